/* hostile: a misbehaving client of memsafed's socket, for hostile.test.
 *
 *   hostile --socket PATH idle N SECONDS
 *       open N connections and hold them idle for SECONDS (or until
 *       SIGTERM); prints "opened N", "held H", "refused R CODE" (refusals
 *       grouped by the error code they carried), then "holding".
 *   hostile --socket PATH malformed
 *       send malformed requests, one per message, and read each reply;
 *       prints one line per case: NAME <TAB> WANTED-CODE <TAB> GOT-CODE,
 *       where a code is an error code, "ok", "closed" (the daemon hung up)
 *       or "none" (no reply within 5 s); then <TAB> the error's message
 *       (or "id=N" for an accepted submit). WANTED may list alternatives:
 *       "too_large|ok".
 *   hostile --socket PATH fds
 *       submit fds the daemon must refuse or bound (a directory, devices,
 *       a socket, O_PATH and write-only fds, a FIFO that never ends, one
 *       that never sends, a file that keeps growing, too many fds); same
 *       output as malformed.
 *   hostile --socket PATH slow N SECONDS
 *       send up to N requests on one connection without ever reading a
 *       reply, then hold it for SECONDS; prints "sent S", then "holding".
 *
 * It checks nothing itself: the test compares what it prints. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "protocol.h"

static const char *sock_path;
static volatile sig_atomic_t stop;
/* The "message" of the last error reply, tabs and newlines blanked. */
static char last_message[600];

static void on_term(int sig) { stop = 1; }

static void die(const char *what)
{
	fprintf(stderr, "hostile: %s: %s\n", what, strerror(errno));
	exit(2);
}

static int conn_open(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send one message with up to 16 fds attached. */
static int send_msg(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(16 * sizeof(int))];
	} cm;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > 0) {
		memset(&cm, 0, sizeof cm);
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		cm.h.cmsg_level = SOL_SOCKET;
		cm.h.cmsg_type = SCM_RIGHTS;
		cm.h.cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(&cm.h), fds, (size_t)nfds * sizeof(int));
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
}

/* Wait up to ms for a reply and name it: its error code, "ok", "closed"
 * or "none". */
static const char *reply_code(int fd, int ms, char *out, size_t outsz)
{
	static char buf[PROTOCOL_MAX_MSG * 4];
	struct pollfd p = { fd, POLLIN, 0 };
	yajl_val v = NULL;
	const char *code;
	char err[128];
	bool ok = false;
	ssize_t n;

	last_message[0] = '\0';
	if (poll(&p, 1, ms) <= 0)
		return snprintf(out, outsz, "none"), out;
	n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
	if (n <= 0)
		return snprintf(out, outsz, "closed"), out;
	if (json_parse(buf, (size_t)n, &v, err, sizeof err) < 0)
		snprintf(out, outsz, "unparsable-reply");
	else if (json_get_bool(v, "ok", &ok) < 0)
		snprintf(out, outsz, "reply-without-ok");
	else if (ok)
		snprintf(out, outsz, "ok");
	else if (json_get_str(json_get(v, "error"), "code", &code) < 0 || !*code)
		snprintf(out, outsz, "error-without-code");
	else
		snprintf(out, outsz, "%s", code);
	if (ok) {
		uint64_t id;
		if (json_get_u64(v, "id", &id) == 0)
			snprintf(last_message, sizeof last_message, "id=%llu", (unsigned long long)id);
	} else if (json_get_str(json_get(v, "error"), "message", &code) == 0) {
		snprintf(last_message, sizeof last_message, "%s", code);
		for (char *c = last_message; *c; c++)
			if (*c == '\t' || *c == '\n')
				*c = ' ';
	}
	json_freep(&v);
	return out;
}

/* ---- idle ------------------------------------------------------------------ */

static int cmd_idle(int n, int seconds)
{
	int *fds = calloc((size_t)n, sizeof *fds);
	bool *done = calloc((size_t)n, sizeof *done);
	char codes[8][64] = {{0}};
	unsigned counts[8] = {0}, opened = 0, held = 0, closed = 0;
	time_t end;

	if (!fds || !done)
		die("calloc");
	for (int i = 0; i < n; i++) {
		fds[i] = conn_open();
		if (fds[i] >= 0)
			opened++;
		else
			done[i] = true;
	}
	/* A refused connection gets an error reply and is closed at once;
	 * the rest are held. Give the daemon a second to accept them all,
	 * then wait until a second passes without news. */
	sleep(1);
	for (bool news = true; news;) {
		news = false;
		for (int i = 0; i < n; i++) {
			char code[64];
			int k;

			if (done[i])
				continue;
			reply_code(fds[i], 0, code, sizeof code);
			if (strcmp(code, "none") == 0)
				continue;
			news = done[i] = true;
			if (strcmp(code, "closed") == 0) {
				closed++;
				continue;
			}
			for (k = 0; k < 8 && codes[k][0] && strcmp(codes[k], code); k++)
				;
			if (k < 8) {
				snprintf(codes[k], sizeof codes[k], "%s", code);
				counts[k]++;
			}
		}
		if (news)
			sleep(1);
	}
	for (int i = 0; i < n; i++)
		if (!done[i])
			held++;
	printf("opened %u\nheld %u\n", opened, held);
	for (int k = 0; k < 8 && codes[k][0]; k++)
		printf("refused %u %s\n", counts[k], codes[k]);
	if (closed)
		printf("refused %u closed\n", closed);
	printf("holding\n");
	fflush(stdout);
	end = time(NULL) + seconds;
	while (!stop && time(NULL) < end)
		usleep(100 * 1000);
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return 0;
}

/* ---- malformed ------------------------------------------------------------- */

struct mcase {
	const char *name;
	const char *want;
	char *msg;     /* malloc'd */
	size_t len;
};

static struct mcase mk(const char *name, const char *want, const char *s)
{
	return (struct mcase){ name, want, strdup(s), strlen(s) };
}

static struct mcase mkn(const char *name, const char *want, const void *s, size_t len)
{
	struct mcase c = { name, want, malloc(len ? len : 1), len };

	memcpy(c.msg, s, len);
	return c;
}

/* {"v":1,"op":"ping","pad":"xxx…"} of exactly len bytes (len >= 40). */
static struct mcase padded_ping(const char *name, const char *want, size_t len)
{
	struct mcase c = { name, want, malloc(len), len };
	const char *head = "{\"v\":1,\"op\":\"ping\",\"pad\":\"";

	memset(c.msg, 'x', len);
	memcpy(c.msg, head, strlen(head));
	memcpy(c.msg + len - 2, "\"}", 2);
	return c;
}

static struct mcase nested(const char *name, const char *want, size_t depth)
{
	const char *head = "{\"v\":1,\"op\":\"ping\",\"x\":";
	size_t hl = strlen(head), len = hl + 2 * depth + 1 + 1;
	struct mcase c = { name, want, malloc(len), len };

	memcpy(c.msg, head, hl);
	memset(c.msg + hl, '[', depth);
	c.msg[hl + depth] = '1';
	memset(c.msg + hl + depth + 1, ']', depth);
	c.msg[len - 1] = '}';
	return c;
}

static int cmd_malformed(void)
{
	static const unsigned char binary[] = { 0x00, 0xff, 0x13, 0x37, 0x80, 0x7b, 0x22, 0xc0,
						0xaf, 0x0a, 0x7d, 0xfe, 0x01, 0x02 };
	char name300[400];
	struct mcase cases[96];
	size_t n = 0;
	int fd = -1;

	memset(name300, 'n', sizeof name300);
	memcpy(name300, "{\"v\":1,\"op\":\"submit\",\"name\":\"", 29);
	memcpy(name300 + 29 + 300, "\"}", 3);

	cases[n++] = mk("valid ping (control)", "ok", "{\"v\":1,\"op\":\"ping\"}");
	cases[n++] = mk("not JSON", "bad_request", "hello, daemon");
	cases[n++] = mkn("binary bytes", "bad_request", binary, sizeof binary);
	cases[n++] = mk("whitespace only", "bad_request", " \n\t ");
	cases[n++] = mk("a JSON array", "bad_request", "[1,2,3]");
	cases[n++] = mk("a JSON string", "bad_request", "\"ping\"");
	cases[n++] = mk("truncated object", "bad_request", "{\"v\":1,\"op\":\"pi");
	cases[n++] = mk("trailing garbage", "bad_request", "{\"v\":1,\"op\":\"ping\"} xyz");
	cases[n++] = mk("two objects", "bad_request", "{\"v\":1,\"op\":\"ping\"}{\"v\":1,\"op\":\"ping\"}");
#define NUL_MSG "{\"v\":1,\"op\":\"ping\"}\0garbage"
	cases[n++] = mkn("NUL byte after the object", "bad_request", NUL_MSG, sizeof NUL_MSG - 1);
	cases[n++] = mk("escaped NUL in op", "bad_request", "{\"v\":1,\"op\":\"ping\\u0000x\"}");
	cases[n++] = mk("no v", "bad_version", "{\"op\":\"ping\"}");
	cases[n++] = mk("empty object", "bad_version", "{}");
	cases[n++] = mk("v 2", "bad_version", "{\"v\":2,\"op\":\"ping\"}");
	cases[n++] = mk("v a string", "bad_version", "{\"v\":\"1\",\"op\":\"ping\"}");
	cases[n++] = mk("v 1.0", "bad_version", "{\"v\":1.0,\"op\":\"ping\"}");
	cases[n++] = mk("v huge", "bad_version", "{\"v\":123456789012345678901234567890,\"op\":\"ping\"}");
	cases[n++] = mk("no op", "bad_request", "{\"v\":1}");
	cases[n++] = mk("op a number", "bad_request", "{\"v\":1,\"op\":42}");
	cases[n++] = mk("op null", "bad_request", "{\"v\":1,\"op\":null}");
	cases[n++] = mk("op an object", "bad_request", "{\"v\":1,\"op\":{\"x\":1}}");
	cases[n++] = mk("unknown op", "unknown_op", "{\"v\":1,\"op\":\"explode\"}");
	cases[n++] = mk("unknown op, long", "unknown_op",
			"{\"v\":1,\"op\":\"status_status_status_status_status_status_status_status\"}");
	cases[n++] = mk("unknown op, multibyte cut at 40 bytes", "unknown_op",
			"{\"v\":1,\"op\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
			"\xc3\xa9\xc3\xa9x\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
			"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}");
	cases[n++] = mk("invalid UTF-8 in op", "bad_request", "{\"v\":1,\"op\":\"\xff\xfe\"}");
	cases[n++] = mk("invalid UTF-8 in name", "bad_request",
			"{\"v\":1,\"op\":\"submit\",\"name\":\"\xc3\x28\"}");
	cases[n++] = mk("overlong UTF-8 slash", "bad_request",
			"{\"v\":1,\"op\":\"submit\",\"kb\":\"\xc0\xaf\"}");
	cases[n++] = mk("lone surrogate escape in op", "unknown_op", "{\"v\":1,\"op\":\"\\ud800\"}");
	cases[n++] = mk("status without id", "bad_request", "{\"v\":1,\"op\":\"status\"}");
	cases[n++] = mk("status id a string", "bad_request", "{\"v\":1,\"op\":\"status\",\"id\":\"7\"}");
	cases[n++] = mk("status id 0", "bad_request", "{\"v\":1,\"op\":\"status\",\"id\":0}");
	cases[n++] = mk("status id negative", "bad_request", "{\"v\":1,\"op\":\"status\",\"id\":-1}");
	cases[n++] = mk("status id 1.5", "bad_request", "{\"v\":1,\"op\":\"status\",\"id\":1.5}");
	cases[n++] = mk("status id 1e400", "bad_request", "{\"v\":1,\"op\":\"status\",\"id\":1e400}");
	cases[n++] = mk("status id beyond 64 bits", "bad_request",
			"{\"v\":1,\"op\":\"status\",\"id\":99999999999999999999999}");
	cases[n++] = mk("status id 2^63-1 (nobody's)", "not_found",
			"{\"v\":1,\"op\":\"status\",\"id\":9223372036854775807}");
	cases[n++] = mk("cancel id 2^64-1", "bad_request",
			"{\"v\":1,\"op\":\"cancel\",\"id\":18446744073709551615}");
	cases[n++] = mk("cancel id an array", "bad_request", "{\"v\":1,\"op\":\"cancel\",\"id\":[1]}");
	cases[n++] = mk("submit without an fd", "bad_fd", "{\"v\":1,\"op\":\"submit\",\"name\":\"x\"}");
	cases[n++] = mk("submit kb ../etc", "bad_request",
			"{\"v\":1,\"op\":\"submit\",\"name\":\"x\",\"kb\":\"../etc\"}");
	cases[n++] = mk("submit kb .hidden", "bad_request",
			"{\"v\":1,\"op\":\"submit\",\"kb\":\".hidden\"}");
	cases[n++] = mk("submit kb empty", "bad_request", "{\"v\":1,\"op\":\"submit\",\"kb\":\"\"}");
	cases[n++] = mk("submit kb 65 bytes", "bad_request",
			"{\"v\":1,\"op\":\"submit\",\"kb\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}");
	cases[n++] = mk("submit sink a command", "bad_request",
			"{\"v\":1,\"op\":\"submit\",\"sink\":\"rm -rf /\"}");
	cases[n++] = mk("submit memory_max 1e30", "bad_request",
			"{\"v\":1,\"op\":\"submit\",\"memory_max\":1e30}");
	cases[n++] = mk("submit memory_max beyond 64 bits", "bad_request",
			"{\"v\":1,\"op\":\"submit\",\"memory_max\":340282366920938463463374607431768211456}");
	cases[n++] = mk("submit batch_size 0", "bad_request", "{\"v\":1,\"op\":\"submit\",\"batch_size\":0}");
	cases[n++] = mk("submit priority 1000", "bad_request", "{\"v\":1,\"op\":\"submit\",\"priority\":1000}");
	cases[n++] = mk("submit priority a string", "bad_request",
			"{\"v\":1,\"op\":\"submit\",\"priority\":\"high\"}");
	cases[n++] = mk("submit max_wait_ms negative", "bad_request",
			"{\"v\":1,\"op\":\"submit\",\"max_wait_ms\":-5}");
	cases[n++] = mk("submit timeout_ms true", "bad_request",
			"{\"v\":1,\"op\":\"submit\",\"timeout_ms\":true}");
	cases[n++] = mkn("submit name 300 bytes", "bad_request", name300, 29 + 300 + 2);
	cases[n++] = mk("pressure without target_mb", "bad_request", "{\"v\":1,\"op\":\"simulate_pressure\"}");
	cases[n++] = mk("pressure target_mb huge", "bad_request",
			"{\"v\":1,\"op\":\"simulate_pressure\",\"target_mb\":99999999999}");
	cases[n++] = mk("pressure hold_ms a day", "bad_request",
			"{\"v\":1,\"op\":\"simulate_pressure\",\"target_mb\":1,\"hold_ms\":86400000}");
	cases[n++] = nested("nesting 16 deep (the limit)", "ok", 15);
	cases[n++] = nested("nesting 17 deep", "bad_request", 16);
	cases[n++] = nested("nesting 30000 deep", "bad_request", 30000);
	cases[n++] = padded_ping("64 KiB exactly", "ok", PROTOCOL_MAX_MSG);
	cases[n++] = padded_ping("64 KiB + 1", "bad_request", PROTOCOL_MAX_MSG + 1);
	cases[n++] = padded_ping("70 KiB", "bad_request", 70 * 1024);
	cases[n++] = padded_ping("200 KiB", "bad_request", 200 * 1024);
	cases[n++] = mkn("empty message", "closed", "", 0);
	cases[n++] = mk("valid ping after all that", "ok", "{\"v\":1,\"op\":\"ping\"}");

	for (size_t i = 0; i < n; i++) {
		char got[64];
		int r;

		if (fd < 0 && (fd = conn_open()) < 0)
			die("connect");
		r = send_msg(fd, cases[i].msg, cases[i].len, NULL, 0);
		if (r < 0)
			snprintf(got, sizeof got, "send-failed:%s", strerror(-r));
		else
			reply_code(fd, 5000, got, sizeof got);
		printf("%s\t%s\t%s\t%s\n", cases[i].name, cases[i].want, got, last_message);
		fflush(stdout);
		if (strcmp(got, "closed") == 0 || r < 0) {
			close(fd);
			fd = -1;
		}
		free(cases[i].msg);
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

/* ---- fds --------------------------------------------------------------------- */

static const char submit_req[] = "{\"v\":1,\"op\":\"submit\",\"name\":\"hostile\",\"sink\":\"mock\"}";

/* Submit with fds attached on a fresh connection; the reply's code. */
static void submit_fds(const char *name, const char *want, const char *req, const int *fds,
		       int nfds, int wait_ms)
{
	char got[64];
	int c = conn_open(), r;

	if (c < 0)
		die("connect");
	r = send_msg(c, req, strlen(req), fds, nfds);
	if (r < 0)
		snprintf(got, sizeof got, "send-failed:%s", strerror(-r));
	else
		reply_code(c, wait_ms, got, sizeof got);
	printf("%s\t%s\t%s\t%s\n", name, want, got, last_message);
	fflush(stdout);
	close(c);
}

/* A child writing to fd as fast as it can until it has written max bytes
 * (0: no end), fails, or is killed. The daemon may have made the file
 * description non-blocking (it is shared with it): wait for room then. */
static pid_t writer(int fd, uint64_t max)
{
	static char zeros[1 << 16];
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		uint64_t done = 0;

		signal(SIGPIPE, SIG_DFL);
		while (!max || done < max) {
			ssize_t n = write(fd, zeros, sizeof zeros);
			if (n < 0 && errno == EAGAIN) {
				struct pollfd p = { fd, POLLOUT, 0 };
				poll(&p, 1, 100);
				continue;
			}
			if (n < 0)
				_exit(0);
			done += (uint64_t)n;
		}
		pause();
		_exit(0);
	}
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static int cmd_fds(const char *tmpdir)
{
	char fifo[4096], grow[4096], plain[4096];
	int fd, fds[16], sp[2], p[2];
	pid_t pid;

	snprintf(fifo, sizeof fifo, "%s/hostile-fifo.%d", tmpdir, (int)getpid());
	snprintf(grow, sizeof grow, "%s/hostile-growing.%d", tmpdir, (int)getpid());
	snprintf(plain, sizeof plain, "%s/hostile-plain.%d", tmpdir, (int)getpid());

	if ((fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		die("open /");
	submit_fds("a directory", "bad_fd", submit_req, &fd, 1, 5000);
	close(fd);

	if ((fd = open("/dev/zero", O_RDONLY | O_CLOEXEC)) < 0)
		die("open /dev/zero");
	submit_fds("/dev/zero", "bad_fd", submit_req, &fd, 1, 5000);
	close(fd);

	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
		die("open /dev/null");
	submit_fds("/dev/null", "bad_fd", submit_req, &fd, 1, 5000);
	close(fd);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		die("socketpair");
	submit_fds("a socket", "bad_fd", submit_req, &sp[0], 1, 5000);
	close(sp[0]);
	close(sp[1]);

	/* A regular file the daemon cannot read through this fd. */
	if ((fd = open(plain, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0 ||
	    write(fd, "some text\n", 10) != 10)
		die("write a plain file");
	submit_fds("a write-only fd of a text file", "bad_fd", submit_req, &fd, 1, 5000);
	close(fd);
	if ((fd = open(plain, O_PATH | O_CLOEXEC)) < 0)
		die("open O_PATH");
	submit_fds("an O_PATH fd of a text file", "bad_fd", submit_req, &fd, 1, 5000);
	close(fd);

	/* Too many fds: the daemon takes at most 4 in its control buffer;
	 * the kernel drops the rest and says so (MSG_CTRUNC). */
	for (int i = 0; i < 16; i++)
		if ((fds[i] = open(plain, O_RDONLY | O_CLOEXEC)) < 0)
			die("open plain");
	submit_fds("16 fds in one message", "bad_fd", submit_req, fds, 16, 5000);
	submit_fds("3 fds, first /dev/null", "bad_fd", submit_req,
		   (int[]){ open("/dev/null", O_RDONLY | O_CLOEXEC), fds[0], fds[1] }, 3, 5000);
	submit_fds("an fd with ping", "ok", "{\"v\":1,\"op\":\"ping\"}", fds, 1, 5000);
	submit_fds("an fd with a malformed request", "bad_request", "{\"v\":1,\"op\":", fds, 1, 5000);
	submit_fds("an fd with a bad kb", "bad_request",
		   "{\"v\":1,\"op\":\"submit\",\"kb\":\"../../root\"}", fds, 1, 5000);
	for (int i = 0; i < 16; i++)
		close(fds[i]);

	/* A FIFO that never ends: the daemon must stop at max_file_size. */
	unlink(fifo);
	if (mkfifo(fifo, 0600) < 0)
		die("mkfifo");
	if ((fd = open(fifo, O_RDWR | O_CLOEXEC)) < 0)
		die("open fifo");
	pid = writer(fd, 0);
	submit_fds("a FIFO that never ends", "too_large", submit_req, &fd, 1, 30000);
	reap(pid);
	close(fd);

	/* A pipe whose writer stays silent: the submit waits, and everybody
	 * else is still served meanwhile (the next cases). Then the writer
	 * closes and the empty document is accepted. */
	{
		int c = conn_open(), w;
		char got[64];

		if (c < 0 || pipe2(p, O_CLOEXEC) < 0)
			die("silent pipe");
		if (send_msg(c, submit_req, strlen(submit_req), &p[0], 1) < 0)
			die("send");
		close(p[0]);
		reply_code(c, 1500, got, sizeof got);
		printf("a silent pipe, while its writer is open\tnone\t%s\t%s\n", got, last_message);

		/* A regular file that keeps growing past max_file_size while
		 * the daemon reads it (up to 16 MiB, so a daemon that never
		 * answers cannot fill the disk). */
		if ((w = open(grow, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644)) < 0 ||
		    (fd = open(grow, O_RDONLY | O_CLOEXEC)) < 0)
			die("open growing file");
		pid = writer(w, 16 << 20);
		usleep(20 * 1000);
		submit_fds("a file that keeps growing", "too_large|ok", submit_req, &fd, 1, 30000);
		reap(pid);
		close(fd);
		close(w);
		unlink(grow);

		close(p[1]);
		reply_code(c, 10000, got, sizeof got);
		printf("a silent pipe, once its writer closes\tok\t%s\t%s\n", got, last_message);
		fflush(stdout);
		close(c);
	}
	unlink(fifo);
	unlink(plain);
	return 0;
}

/* ---- slow ------------------------------------------------------------------- */

static int cmd_slow(int n, int seconds)
{
	static const char req[] = "{\"v\":1,\"op\":\"list\"}";
	int fd = conn_open(), sent = 0;
	time_t end;

	if (fd < 0)
		die("connect");
	for (int i = 0; i < n; i++) {
		struct pollfd p = { fd, POLLOUT, 0 };
		/* Wait a little for room; a daemon that stopped reading us
		 * (fine) leaves the rest unsent. */
		if (poll(&p, 1, 200) <= 0)
			break;
		if (send(fd, req, sizeof req - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			if (errno == EAGAIN)
				continue;
			break;
		}
		sent++;
	}
	printf("sent %d\nholding\n", sent);
	fflush(stdout);
	end = time(NULL) + seconds;
	while (!stop && time(NULL) < end)
		usleep(100 * 1000);
	close(fd);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: hostile --socket PATH idle N SECONDS | malformed | "
		"fds [TMPDIR] | slow N SECONDS\n");
	exit(64);
}

int main(int argc, char **argv)
{
	struct rlimit rl;
	struct sigaction sa = { .sa_handler = on_term };

	if (argc < 4 || strcmp(argv[1], "--socket") != 0)
		usage();
	sock_path = argv[2];
	argv += 3;
	argc -= 3;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Room for the idle connections. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (strcmp(argv[0], "idle") == 0 && argc == 3)
		return cmd_idle(atoi(argv[1]), atoi(argv[2]));
	if (strcmp(argv[0], "malformed") == 0 && argc == 1)
		return cmd_malformed();
	if (strcmp(argv[0], "fds") == 0 && argc <= 2)
		return cmd_fds(argc == 2 ? argv[1] : "/tmp");
	if (strcmp(argv[0], "slow") == 0 && argc == 3)
		return cmd_slow(atoi(argv[1]), atoi(argv[2]));
	usage();
}
