/* Small helpers: fds, files written atomically, numbers, clocks, ISO 8601. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t read_small_fileat(int dirfd, const char *name, char *buf, size_t size)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (size == 0)
		return -EINVAL;
	buf[0] = '\0';
	if (fd < 0)
		return -errno;
	n = read_full(fd, buf, size - 1);
	if (n < 0)
		return n;
	buf[n] = '\0';
	return n;
}

ssize_t read_small_file(const char *path, char *buf, size_t size)
{
	return read_small_fileat(AT_FDCWD, path, buf, size);
}

int write_fileat(int dirfd, const char *name, const char *value)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(value);
	ssize_t n;

	if (fd < 0)
		return -errno;
	/* cgroupfs takes one write per value; a short write is an error. */
	n = write(fd, value, len);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

int write_file(const char *path, const char *value)
{
	return write_fileat(AT_FDCWD, path, value);
}

int write_atomic(const char *dir, const char *name, const void *data, size_t len)
{
	return write_atomic_owned(dir, name, data, len, (uid_t)-1, (gid_t)-1, 0644);
}

int write_atomic_owned(const char *dir, const char *name, const void *data, size_t len,
		       uid_t uid, gid_t gid, mode_t mode)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	_cleanup_close_ int dfd = -1;
	int fd, r;

	if (snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name) >= (int)sizeof tmp ||
	    snprintf(dst, sizeof dst, "%s/%s", dir, name) >= (int)sizeof dst)
		return -ENAMETOOLONG;
	unlink(tmp);   /* a stale one from a crash */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	r = write_full(fd, data, len);
	/* The mode while the file is still ours: changing it after giving
	 * it away would need CAP_FOWNER. */
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && uid != (uid_t)-1 && fchown(fd, uid, gid) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, dst) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	/* The rename is durable only once the directory is synced. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		fsync(dfd);
	return 0;
}

int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof buf)
		return -EINVAL;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int parse_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret = v;
	return 0;
}

static uint64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t now_mono_ms(void) { return clock_ms(CLOCK_MONOTONIC); }
uint64_t now_real_ms(void) { return clock_ms(CLOCK_REALTIME); }

void format_iso8601(uint64_t real_ms, char *buf, size_t size)
{
	time_t t = (time_t)(real_ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (unsigned)(real_ms % 1000));
}

int parse_iso8601(const char *s, uint64_t *ret)
{
	struct tm tm = {0};
	unsigned ms = 0;
	int n = 0;
	time_t t;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return -EINVAL;
	s += n;
	if (*s == '.') {
		unsigned scale = 100;
		for (s++; *s >= '0' && *s <= '9'; s++) {
			ms += (unsigned)(*s - '0') * scale;
			scale /= 10;
		}
	}
	if (*s != 'Z' && *s != '\0')
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	if (t < 0)
		return -EINVAL;
	*ret = (uint64_t)t * 1000 + ms;
	return 0;
}

/* Length of the valid UTF-8 sequence at s (1 to 4) with its code point
 * in *cp, or 0 when s does not start one (stray continuation byte,
 * overlong form, surrogate, past U+10FFFF, cut short). */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
	size_t n;
	uint32_t c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2, c = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, c = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)   /* also stops at the NUL */
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Code points a terminal acts on or that break or reorder a line: C1
 * controls (U+009B is CSI on terminals that honour 8-bit controls), the
 * line and paragraph separators, and the bidirectional overrides and
 * isolates that make text display in another order than it reads. */
static bool escape_cp(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

size_t str_escape(char *buf, size_t size, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	size_t len = 0;

	while (*s) {
		char tmp[16];
		const char *out = tmp;
		size_t n, w;
		uint32_t cp;

		n = utf8_decode(s, &cp);
		if (n == 0) {
			snprintf(tmp, sizeof tmp, "\\x%02x", s[0]);
			n = 1;
		} else if (cp == '\\') {
			out = "\\\\";
		} else if (cp == '\n') {
			out = "\\n";
		} else if (cp == '\r') {
			out = "\\r";
		} else if (cp == '\t') {
			out = "\\t";
		} else if (cp < 0x20 || cp == 0x7f) {
			snprintf(tmp, sizeof tmp, "\\x%02x", (unsigned)cp);
		} else if (escape_cp(cp)) {
			snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)cp);
		} else {
			memcpy(tmp, s, n);
			tmp[n] = '\0';
		}
		w = strlen(out);
		/* Whole escapes and characters only: room for it and the NUL. */
		if (buf && size > 0 && len + w < size)
			memcpy(buf + len, out, w);
		else if (buf && size > 0 && len < size)
			size = len + 1;   /* stop writing here */
		len += w;
		s += n;
	}
	if (buf && size > 0)
		buf[MIN(len, size - 1)] = '\0';
	return len;
}

bool str_needs_escape(const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");

	while (*s) {
		uint32_t cp;
		size_t n = utf8_decode(s, &cp);

		if (n == 0 || cp < 0x20 || cp == 0x7f || cp == '\\' || escape_cp(cp))
			return true;
		s += n;
	}
	return false;
}
