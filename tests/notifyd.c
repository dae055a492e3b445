/* notifyd: stand in for the service manager's notification socket
 * (sd_notify(3)) or journald's native socket (the same wire format: one
 * datagram of FIELD=value lines, a value with a newline in it sent as
 * FIELD\n<64-bit little-endian length><value>\n).
 *
 *   notifyd PATH
 *
 * Binds a datagram socket at PATH and prints one line per datagram on
 * stdout: the sender's pid, then each field, separated by tabs, with
 * newlines, tabs and backslashes in values escaped as \n, \t and \\.
 * Runs until killed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void put_escaped(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '\n': fputs("\\n", stdout); break;
		case '\t': fputs("\\t", stdout); break;
		case '\\': fputs("\\\\", stdout); break;
		default: putchar(s[i]); break;
		}
	}
}

/* Print the fields of one datagram; false if it is malformed. */
static int print_fields(const char *p, size_t len)
{
	const char *end = p + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eq = memchr(p, '=', (size_t)((nl ? nl : end) - p));
		uint64_t n = 0;

		putchar('\t');
		if (eq || !nl) {
			/* FIELD=value up to the newline (or the end). */
			put_escaped(p, (size_t)((nl ? nl : end) - p));
			p = nl ? nl + 1 : end;
			continue;
		}
		/* Binary-safe: FIELD \n le64 length, value, \n. */
		put_escaped(p, (size_t)(nl - p));
		putchar('=');
		p = nl + 1;
		if (end - p < 8)
			return 0;
		for (int i = 7; i >= 0; i--)
			n = n << 8 | (unsigned char)p[i];
		p += 8;
		if ((uint64_t)(end - p) < n + 1)
			return 0;
		put_escaped(p, (size_t)n);
		p += n + 1;
	}
	return 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static char buf[256 * 1024];
	int fd, one = 1;

	if (argc != 2 || strlen(argv[1]) >= sizeof sa.sun_path) {
		fprintf(stderr, "usage: notifyd PATH\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	unlink(sa.sun_path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){ 1 << 20 }, sizeof(int)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror("notifyd");
		return 1;
	}
	for (;;) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(16 * sizeof(int))];
		} cm;
		struct iovec iov = { buf, sizeof buf };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cm.buf, .msg_controllen = sizeof cm.buf };
		struct ucred cr = { .pid = 0 };
		ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);

		if (n < 0)
			continue;
		for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
			if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_CREDENTIALS)
				memcpy(&cr, CMSG_DATA(h), sizeof cr);
			else if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) {
				/* Large journal entries come as a memfd; we do
				 * not read those, but do not leak them either. */
				int *fds = (int *)CMSG_DATA(h);
				for (size_t i = 0; i < (h->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
					close(fds[i]);
			}
		}
		printf("%d", (int)cr.pid);
		if (!print_fields(buf, (size_t)n))
			fputs("\t(malformed)", stdout);
		if (mh.msg_flags & MSG_TRUNC)
			fputs("\t(truncated)", stdout);
		putchar('\n');
		fflush(stdout);
	}
}
