# Where a package for the system Python goes under a prefix: Debian's
# dist-packages for /usr, site-packages under /usr/local, else the prefix's
# own lib/pythonX.Y/site-packages. Used by configure (MEMSAFE_PYTHONDIR).
import sys
import sysconfig

prefix = sys.argv[1]
schemes = sysconfig.get_scheme_names()
if prefix == "/usr" and "deb_system" in schemes:
    scheme = "deb_system"
elif prefix == "/usr/local" and "posix_local" in schemes:
    scheme = "posix_local"
else:
    scheme = "posix_prefix"
print(sysconfig.get_path("purelib", scheme, vars={"base": prefix, "platbase": prefix}))
