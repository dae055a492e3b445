/* Unit tests for common/frame.c: the length-prefixed frames from
 * memsafe-worker to memsafed, fed in every split, and written through real
 * pipes (including short writes and a 1 MiB body). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frame.h"
#include "util.h"
#include "tap.h"

/* ---- a writev that can be told to write short --------------------------
 *
 * frame_write() finishes a short writev() itself. A blocking pipe rarely
 * writes short, so this definition (which the static libcommon.a binds to
 * in this binary) lets a test decide how many bytes the first writev()
 * takes, or make it fail once with EINTR. */

static ssize_t writev_short = -1; /* >= 0: the next writev writes this many */
static bool writev_eintr;         /* the next writev fails with EINTR */
static unsigned writev_calls;

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	writev_calls++;
	if (writev_eintr) {
		writev_eintr = false;
		errno = EINTR;
		return -1;
	}
	if (writev_short >= 0) {
		struct iovec cut[8];
		size_t left = (size_t)writev_short;
		int n = 0;

		writev_short = -1;
		for (int i = 0; i < iovcnt && i < 8 && left; i++, n++) {
			cut[i] = iov[i];
			if (cut[i].iov_len > left)
				cut[i].iov_len = left;
			left -= cut[i].iov_len;
		}
		if (n == 0)
			return 0;
		return syscall(SYS_writev, fd, cut, n);
	}
	return syscall(SYS_writev, fd, iov, iovcnt);
}

/* ---- helpers ----------------------------------------------------------- */

/* Deterministic PRNG (xorshift64*), so a failure can be replayed. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

static void put_header(uint8_t *p, size_t n)
{
	p[0] = (uint8_t)(n >> 24);
	p[1] = (uint8_t)(n >> 16);
	p[2] = (uint8_t)(n >> 8);
	p[3] = (uint8_t)n;
}

/* A body of n bytes whose content depends on seed (binary, NULs included). */
static void fill_body(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31u + seed * 7u + (i >> 8));
}

struct stream {
	uint8_t *bytes;
	size_t len;
	size_t nframes;
	size_t sizes[64];
	size_t offs[64];  /* offset of each body in bytes */
};

/* Build nframes frames of the given sizes into one byte stream. */
static void stream_make(struct stream *s, const size_t *sizes, size_t nframes)
{
	size_t total = 0, off = 0;

	for (size_t i = 0; i < nframes; i++)
		total += FRAME_HEADER + sizes[i];
	*s = (struct stream){ .bytes = malloc(total ? total : 1), .len = total,
			      .nframes = nframes };
	if (!s->bytes)
		abort();
	for (size_t i = 0; i < nframes; i++) {
		put_header(s->bytes + off, sizes[i]);
		s->sizes[i] = sizes[i];
		s->offs[i] = off + FRAME_HEADER;
		fill_body(s->bytes + off + FRAME_HEADER, sizes[i], (unsigned)i);
		off += FRAME_HEADER + sizes[i];
	}
}

/* Feed s in pieces given by cut() and pull every frame out as soon as it
 * is complete. Returns true when every frame came out whole, in order, at
 * the moment its last byte arrived and not before. */
static bool stream_replay(const struct stream *s, size_t max, size_t (*cut)(size_t left),
			  char *why, size_t whysz)
{
	struct frame_reader fr;
	size_t fed = 0, got = 0;
	bool good = true;

	frame_reader_init(&fr, max);
	while (good && fed < s->len) {
		size_t n = cut(s->len - fed);
		const char *body;
		size_t len;
		int r;

		if (frame_reader_feed(&fr, s->bytes + fed, n) < 0) {
			snprintf(why, whysz, ": feed failed");
			good = false;
			break;
		}
		fed += n;
		while ((r = frame_reader_next(&fr, &body, &len)) == 1) {
			if (got == s->nframes || len != s->sizes[got] ||
			    memcmp(body, s->bytes + s->offs[got], len) != 0) {
				snprintf(why, whysz, ": frame %zu wrong (len %zu)", got, len);
				good = false;
				break;
			}
			if (fed < s->offs[got] + len) {
				snprintf(why, whysz, ": frame %zu came out early", got);
				good = false;
				break;
			}
			got++;
		}
		if (good && r != 0) {
			snprintf(why, whysz, ": next returned %d after %zu frames", r, got);
			good = false;
		}
		/* everything complete so far must have come out */
		if (good && got < s->nframes && fed >= s->offs[got] + s->sizes[got]) {
			snprintf(why, whysz, ": frame %zu complete but not returned", got);
			good = false;
		}
	}
	if (good && got != s->nframes) {
		snprintf(why, whysz, ": %zu of %zu frames", got, s->nframes);
		good = false;
	}
	frame_reader_done(&fr);
	return good;
}

static size_t cut_one(size_t left) { return 1; }
static size_t cut_all(size_t left) { return left; }
static size_t cut_random(size_t left)
{
	/* mostly small pieces, sometimes large, sometimes everything */
	switch (rng() % 4) {
	case 0: return 1 + rng() % MIN(left, 3);
	case 1: return 1 + rng() % MIN(left, 64);
	case 2: return 1 + rng() % left;
	default: {
		size_t n = 1 + rng() % 5000; /* not inside MIN(): it evaluates twice */
		return MIN(left, n);
	}
	}
}

/* ---- feeding ----------------------------------------------------------- */

static void test_splits(void)
{
	static const size_t sizes[] = { 1, 4, 5, 255, 256, 300, 65536, 70000, 2, 1 };
	struct stream s;
	char why[128] = "";

	stream_make(&s, sizes, ARRAY_SIZE(sizes));
	ok(stream_replay(&s, 100000, cut_one, why, sizeof why),
	   "%zu frames fed byte by byte come out whole, in order, on their last byte%s",
	   s.nframes, why);
	ok(stream_replay(&s, 100000, cut_all, why, sizeof why),
	   "%zu frames in one feed all come out%s", s.nframes, why);
	free(s.bytes);

	/* random frame sizes, random splits */
	for (int round = 0; round < 200; round++) {
		size_t n = 1 + rng() % 20, rsizes[20];
		bool good;

		for (size_t i = 0; i < n; i++)
			rsizes[i] = 1 + (rng() % 4 == 0 ? rng() % 20000 : rng() % 100);
		stream_make(&s, rsizes, n);
		good = stream_replay(&s, 20000, cut_random, why, sizeof why);
		free(s.bytes);
		if (!good) {
			ok(false, "random splits, round %d%s", round, why);
			return;
		}
	}
	ok(true, "200 rounds of random frames in random splits all come out whole");
}

static void test_one_feed_several(void)
{
	struct frame_reader fr;
	const char *body;
	size_t len;
	uint8_t buf[64];

	/* "a", "bc", "def" in one feed */
	put_header(buf, 1);
	buf[4] = 'a';
	put_header(buf + 5, 2);
	memcpy(buf + 9, "bc", 2);
	put_header(buf + 11, 3);
	memcpy(buf + 15, "def", 3);
	frame_reader_init(&fr, 16);
	is_int(frame_reader_next(&fr, &body, &len), 0, "an empty reader wants more");
	frame_reader_feed(&fr, buf, 18);
	ok(frame_reader_next(&fr, &body, &len) == 1 && len == 1 && body[0] == 'a', "first: a");
	ok(frame_reader_next(&fr, &body, &len) == 1 && len == 2 && memcmp(body, "bc", 2) == 0,
	   "second: bc");
	ok(frame_reader_next(&fr, &body, &len) == 1 && len == 3 && memcmp(body, "def", 3) == 0,
	   "third: def");
	is_int(frame_reader_next(&fr, &body, &len), 0, "then more is needed");
	is_int(frame_reader_next(&fr, &body, &len), 0, "and again (nothing handed out twice)");
	is_int(fr.len, 0, "the buffer is empty once everything is taken");

	/* a header split from its body, and a header split in itself */
	frame_reader_feed(&fr, buf, 3);
	is_int(frame_reader_next(&fr, &body, &len), 0, "3 header bytes: more needed");
	frame_reader_feed(&fr, buf + 3, 1);
	is_int(frame_reader_next(&fr, &body, &len), 0, "header without body: more needed");
	frame_reader_feed(&fr, buf + 4, 1);
	ok(frame_reader_next(&fr, &body, &len) == 1 && len == 1 && body[0] == 'a',
	   "body arrives: frame out");
	frame_reader_done(&fr);
	ok(fr.buf == NULL && fr.len == 0, "done releases the buffer");
	frame_reader_done(&fr);
	ok(fr.buf == NULL, "done twice is harmless");
}

/* The body of a frame stays valid, in place, until the next call. */
static void test_body_lifetime(void)
{
	struct frame_reader fr;
	const char *b1 = NULL, *b2 = NULL;
	size_t l1, l2;
	uint8_t buf[2 * (FRAME_HEADER + 100)];
	uint8_t want1[100], want2[100];

	put_header(buf, 100);
	fill_body(buf + FRAME_HEADER, 100, 1);
	memcpy(want1, buf + FRAME_HEADER, 100);
	put_header(buf + FRAME_HEADER + 100, 100);
	fill_body(buf + 2 * FRAME_HEADER + 100, 100, 2);
	memcpy(want2, buf + 2 * FRAME_HEADER + 100, 100);

	frame_reader_init(&fr, 1000);
	frame_reader_feed(&fr, buf, sizeof buf);
	ok(frame_reader_next(&fr, &b1, &l1) == 1 && l1 == 100, "first of two frames");
	ok(memcmp(b1, want1, 100) == 0, "first body intact right after next()");
	/* the reader may only reclaim the first body's bytes on the next call */
	ok(frame_reader_next(&fr, &b2, &l2) == 1 && l2 == 100 && memcmp(b2, want2, 100) == 0,
	   "second body correct once the first is dropped");
	is_int(frame_reader_next(&fr, &b2, &l2), 0, "nothing after the second");
	is_int(fr.len, 0, "both frames' bytes were reclaimed");
	frame_reader_done(&fr);
}

static void test_limits(void)
{
	struct frame_reader fr;
	const char *body;
	size_t len;
	uint8_t *buf = malloc(FRAME_HEADER + 1001);

	if (!buf)
		abort();
	/* exactly max */
	put_header(buf, 1000);
	fill_body(buf + FRAME_HEADER, 1000, 3);
	frame_reader_init(&fr, 1000);
	frame_reader_feed(&fr, buf, FRAME_HEADER + 1000);
	ok(frame_reader_next(&fr, &body, &len) == 1 && len == 1000 &&
	   memcmp(body, buf + FRAME_HEADER, 1000) == 0, "a body of exactly max is accepted");
	frame_reader_done(&fr);

	/* max + 1: refused as soon as the header is in, before the body */
	put_header(buf, 1001);
	frame_reader_init(&fr, 1000);
	frame_reader_feed(&fr, buf, FRAME_HEADER);
	is_int(frame_reader_next(&fr, &body, &len), -EMSGSIZE,
	       "max + 1 is -EMSGSIZE on the header alone");
	frame_reader_feed(&fr, buf + FRAME_HEADER, 1001);
	is_int(frame_reader_next(&fr, &body, &len), -EMSGSIZE, "and stays -EMSGSIZE");
	frame_reader_done(&fr);

	/* the largest length a header can announce */
	memset(buf, 0xff, FRAME_HEADER);
	frame_reader_init(&fr, 1000);
	frame_reader_feed(&fr, buf, FRAME_HEADER);
	is_int(frame_reader_next(&fr, &body, &len), -EMSGSIZE, "length 2^32-1 is -EMSGSIZE");
	frame_reader_done(&fr);

	/* the length is big-endian: 00 00 01 2c is 300, not 0x2c010000 */
	put_header(buf, 300);
	frame_reader_init(&fr, 300);
	frame_reader_feed(&fr, buf, FRAME_HEADER);
	is_int(frame_reader_next(&fr, &body, &len), 0, "header 00 00 01 2c with max 300 waits");
	frame_reader_done(&fr);

	/* zero length */
	memset(buf, 0, FRAME_HEADER);
	frame_reader_init(&fr, 1000);
	frame_reader_feed(&fr, buf, FRAME_HEADER);
	is_int(frame_reader_next(&fr, &body, &len), -EBADMSG, "zero length is -EBADMSG");
	frame_reader_done(&fr);

	/* a good frame, then a zero-length one */
	put_header(buf, 1);
	buf[4] = 'x';
	memset(buf + 5, 0, FRAME_HEADER);
	frame_reader_init(&fr, 1000);
	frame_reader_feed(&fr, buf, 5 + FRAME_HEADER);
	ok(frame_reader_next(&fr, &body, &len) == 1 && len == 1 && *body == 'x',
	   "a good frame before a bad one comes out");
	is_int(frame_reader_next(&fr, &body, &len), -EBADMSG, "then -EBADMSG");
	frame_reader_done(&fr);
	free(buf);
}

/* ---- through pipes ----------------------------------------------------- */

/* Read frames from fd until EOF; check each against the stream. */
static bool read_back(int fd, const struct stream *s, size_t max, char *why, size_t whysz)
{
	struct frame_reader fr;
	size_t got = 0;
	bool good = true;
	ssize_t n;

	frame_reader_init(&fr, max);
	do {
		const char *body;
		size_t len;
		int r;

		n = frame_reader_fill(&fr, fd);
		if (n < 0) {
			snprintf(why, whysz, ": fill: %s", strerror((int)-n));
			good = false;
			break;
		}
		while ((r = frame_reader_next(&fr, &body, &len)) == 1) {
			if (got == s->nframes || len != s->sizes[got] ||
			    memcmp(body, s->bytes + s->offs[got], len) != 0) {
				snprintf(why, whysz, ": frame %zu wrong (len %zu)", got, len);
				good = false;
				break;
			}
			got++;
		}
		if (good && r < 0) {
			snprintf(why, whysz, ": next: %d", r);
			good = false;
		}
	} while (good && n > 0);
	if (good && (got != s->nframes || fr.len != 0)) {
		snprintf(why, whysz, ": %zu of %zu frames, %zu bytes left over", got,
			 s->nframes, fr.len);
		good = false;
	}
	frame_reader_done(&fr);
	return good;
}

/* Frames written by a child with frame_write() and read by the parent with
 * frame_reader_fill(); the 1 MiB body is far larger than the pipe. */
static void test_pipe_big(void)
{
	static const size_t sizes[] = { 17, 1 << 20, 1, 65536, 65537, 3 };
	struct stream s;
	char why[128] = "";
	int p[2], status = -1;
	pid_t pid;

	stream_make(&s, sizes, ARRAY_SIZE(sizes));
	if (pipe2(p, O_CLOEXEC) < 0)
		abort();
	pid = fork();
	if (pid < 0)
		abort();
	if (pid == 0) {
		int rc = 0;

		close(p[0]);
		for (size_t i = 0; i < s.nframes && rc == 0; i++)
			if (frame_write(p[1], s.bytes + s.offs[i], s.sizes[i]) < 0)
				rc = 1;
		free(s.bytes); /* so valgrind, following the fork, sees no leak */
		_exit(rc);
	}
	close(p[1]);
	ok(read_back(p[0], &s, 1 << 20, why, sizeof why),
	   "frames up to 1 MiB written by a child process read back whole%s", why);
	close(p[0]);
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the writer child wrote every frame");
	free(s.bytes);
}

/* Short writes at every interesting point of header and body, and EINTR. */
static void test_pipe_short_writes(void)
{
	static const size_t sizes[] = { 10 };
	static const ssize_t cuts[] = { 0, 1, 2, 3, 4, 5, 9, 13 };
	struct stream s;
	char why[128] = "";

	stream_make(&s, sizes, 1);
	for (size_t i = 0; i < ARRAY_SIZE(cuts); i++) {
		int p[2], r;

		if (pipe2(p, O_CLOEXEC) < 0)
			abort();
		writev_short = cuts[i];
		writev_calls = 0;
		r = frame_write(p[1], s.bytes + s.offs[0], s.sizes[0]);
		close(p[1]);
		ok(r == 0 && writev_calls == 1 && writev_short == -1,
		   "frame_write after a first writev of %zd of 14 bytes returns 0", cuts[i]);
		ok(read_back(p[0], &s, 100, why, sizeof why),
		   "and the frame reads back byte-exact%s", why);
		close(p[0]);
	}
	{
		int p[2], r;

		if (pipe2(p, O_CLOEXEC) < 0)
			abort();
		writev_eintr = true;
		writev_calls = 0;
		r = frame_write(p[1], s.bytes + s.offs[0], s.sizes[0]);
		close(p[1]);
		ok(r == 0 && writev_calls == 2, "writev interrupted by a signal is retried");
		ok(read_back(p[0], &s, 100, why, sizeof why), "and the frame reads back once%s",
		   why);
		close(p[0]);
	}
	free(s.bytes);
}

static void test_write_errors(void)
{
	struct frame_reader fr;
	int p[2];
	ssize_t n;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		abort();
	writev_calls = 0;
	is_int(frame_write(p[1], "x", 0), -EINVAL, "frame_write of an empty body is -EINVAL");
	is_int(frame_write(p[1], "x", (size_t)UINT32_MAX + 1), -EINVAL,
	       "frame_write of a body above 2^32-1 is -EINVAL");
	is_int(writev_calls, 0, "and neither wrote anything");

	frame_reader_init(&fr, 100);
	n = frame_reader_fill(&fr, p[0]);
	is_int(n, -EAGAIN, "fill on an empty nonblocking pipe is -EAGAIN");
	close(p[1]);
	n = frame_reader_fill(&fr, p[0]);
	is_int(n, 0, "fill at EOF is 0");
	close(p[0]);
	n = frame_reader_fill(&fr, p[0]);
	is_int(n, -EBADF, "fill on a closed fd is -EBADF");
	frame_reader_done(&fr);

	if (pipe2(p, O_CLOEXEC) < 0)
		abort();
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	is_int(frame_write(p[1], "abc", 3), -EPIPE, "frame_write to a pipe nobody reads is -EPIPE");
	close(p[1]);
}

int main(void)
{
	printf("# rng seed %#llx\n", (unsigned long long)rng_state);
	test_splits();
	test_one_feed_several();
	test_body_lifetime();
	test_limits();
	test_pipe_big();
	test_pipe_short_writes();
	test_write_errors();
	return tap_done();
}
