/* listenfd: pass a listening socket to a program the way systemd's socket
 * activation does (sd_listen_fds(3)): bound and listening on fd 3, with
 * LISTEN_FDS=1, LISTEN_PID set to the pid that execs the program (ours:
 * we exec in place) and LISTEN_FDNAMES. When WATCHDOG_USEC is set,
 * WATCHDOG_PID is set to the same pid, as systemd does.
 *
 *   listenfd [--stream] PATH PROGRAM [ARGS...]
 *
 * --stream passes a SOCK_STREAM socket instead of SOCK_SEQPACKET, to test
 * that the program refuses the wrong kind. Exits 111 if setup fails. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define LISTEN_FDS_START 3

static int fail(const char *what)
{
	fprintf(stderr, "listenfd: %s: %m\n", what);
	return 111;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int type = SOCK_SEQPACKET, i = 1, fd;
	char pid[32];

	if (argc > i && strcmp(argv[i], "--stream") == 0) {
		type = SOCK_STREAM;
		i++;
	}
	if (argc - i < 2) {
		fprintf(stderr, "usage: listenfd [--stream] PATH PROGRAM [ARGS...]\n");
		return 2;
	}
	if (strlen(argv[i]) >= sizeof sa.sun_path) {
		fprintf(stderr, "listenfd: socket path too long\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[i]);
	unlink(sa.sun_path);
	/* Not CLOEXEC: it is for the program we exec. */
	fd = socket(AF_UNIX, type, 0);
	if (fd < 0)
		return fail("socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		return fail("bind");
	if (chmod(sa.sun_path, 0660) < 0)
		return fail("chmod");
	if (listen(fd, 64) < 0)
		return fail("listen");
	if (fd != LISTEN_FDS_START) {
		if (dup2(fd, LISTEN_FDS_START) < 0)
			return fail("dup2");
		close(fd);
	}
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	if (setenv("LISTEN_FDS", "1", 1) < 0 || setenv("LISTEN_PID", pid, 1) < 0 ||
	    setenv("LISTEN_FDNAMES", "memsafed.socket", 1) < 0)
		return fail("setenv");
	if (getenv("WATCHDOG_USEC") && setenv("WATCHDOG_PID", pid, 1) < 0)
		return fail("setenv");
	execvp(argv[i + 1], argv + i + 1);
	return fail(argv[i + 1]);
}
