/* memsafectl bundle: the bug-report archive. */
#ifndef MEMSAFE_CTL_BUNDLE_H
#define MEMSAFE_CTL_BUNDLE_H

int bundle_main(int argc, char **argv);

#endif
