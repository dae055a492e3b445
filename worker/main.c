/* memsafe-worker: the sandboxed, short-lived ingestion process. The daemon
 * execs one per job: document on fd 0, frames out on fd 1, scratch on 3. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <getopt.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emit.h"
#include "extract.h"
#include "frame.h"
#include "pressure.h"
#include "sandbox.h"
#include "util.h"

#ifdef SANITIZER_BUILD
/* LeakSanitizer stops the world at exit with clone and ptrace, which the
 * sandbox forbids; a worker is a short-lived exec whose leaks end with it.
 * ASan's quarantine (256 MB by default) would hold freed pages resident
 * and charge them to the job's memory.max: keep it small. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "detect_leaks=0:quarantine_size_mb=16"; }
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: memsafe-worker extract [OPTIONS]\n"
		"       memsafe-worker pressure --target-mb N [--step-mb N] [--hold-ms N]\n"
		"Started by memsafed, one per job, inside the job's cgroup: reads the\n"
		"document on fd 0 and writes length-prefixed JSON frames on fd 1.\n"
		"\n"
		"extract options:\n"
		"  --batch-size N      chunks per batch (default 10)\n"
		"  --max-bytes N       bytes per batch (default 5000000)\n"
		"  --max-wait-ms N     close a batch after this long (default 5000;\n"
		"                      0: no time limit)\n"
		"  --chunk-size N      bytes per chunk (default 1000)\n"
		"  --chunk-overlap N   bytes repeated between chunks (default 100)\n"
		"  --buffer-size N     read size from fd 0 (default 65536)\n"
		"  --scratch-fd N      where a PDF is assembled (default: none)\n"
		"  --first-page N      resume: start at page N\n"
		"  --skip-page N       resume inside page N (0: a format without pages)...\n"
		"  --skip-chunks K     ...dropping its first K chunks (flushed before)\n"
		"  --first-batch N     resume: number batches from N\n"
		"  --max-file-size N   RLIMIT_FSIZE for the scratch file (default 100M)\n"
		"common options:\n"
		"  --user NAME         drop to this user (required when started as root)\n"
		"  --report-sandbox    first send a \"sandbox\" frame saying what the\n"
		"                      sandbox applied\n"
		"  --test-violate CALL for the test suite: once sandboxed, attempt a\n"
		"                      forbidden call (socket, open-write, execve,\n"
		"                      ptrace), which must kill the worker with SIGSYS\n"
		"  --test-read PATH    for the test suite: once sandboxed, try to read\n"
		"                      PATH; exit 0 if the sandbox refused, 70 if not\n"
		"  --test-no-landlock  for the test suite: confine the filesystem with\n"
		"                      the empty root, as without Landlock\n"
		"  -h, --help          show this help\n"
		"\n"
		"Exit status: 0 done, 64 usage, 65 bad document, 70 internal error,\n"
		"71 sandbox setup failed, 74 I/O error. See memsafe-worker(8).\n");
}

static int parse_num(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *ret)
{
	uint64_t v;

	if (parse_u64(s, &v) < 0 || v < lo || v > hi) {
		fprintf(stderr, "memsafe-worker: %s takes a number from %llu to %llu, not '%s'\n",
			opt, (unsigned long long)lo, (unsigned long long)hi, s);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

/* Where glib's messages (poppler-glib's warnings) go: straight to stderr,
 * which memsafed passes to its journal. glib's own writer would first ask
 * whether stderr is the journal's socket (getpeername) or a terminal
 * (isatty), calls the sandbox does not allow; and a document that makes
 * poppler warn on every page must not flood the journal, so after a
 * hundred messages the rest are counted, not printed. */
static GLogWriterOutput log_writer(GLogLevelFlags level, const GLogField *fields,
				   gsize n_fields, gpointer data)
{
	static unsigned printed;
	const char *domain = NULL, *msg = NULL;
	char line[1024], safe[1024];
	int n;

	/* Info and debug messages (poppler-glib turns every PDF syntax
	 * error into one) only on request, as glib's own writer does. */
	if ((level & (G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG)) && !getenv("G_MESSAGES_DEBUG"))
		return G_LOG_WRITER_HANDLED;
	for (gsize i = 0; i < n_fields; i++) {
		if (strcmp(fields[i].key, "GLIB_DOMAIN") == 0)
			domain = fields[i].value;
		else if (strcmp(fields[i].key, "MESSAGE") == 0)
			msg = fields[i].value;
	}
	if (++printed > 100)
		return G_LOG_WRITER_HANDLED;
	/* poppler's warnings quote the document: escape what a terminal or
	 * the log would act on (a newline would forge a line of its own). */
	str_escape(safe, sizeof safe, printed == 100 ? "(further messages suppressed)" :
		   msg ? msg : "(no message)");
	n = snprintf(line, sizeof line, "memsafe-worker: %s%s%s\n", domain ? domain : "",
		     domain ? ": " : "", safe);
	if (n >= (int)sizeof line) {
		n = (int)sizeof line;
		line[n - 1] = '\n';
	}
	(void)!write(STDERR_FILENO, line, (size_t)n);
	return G_LOG_WRITER_HANDLED;
}

int main(int argc, char **argv)
{
	enum { O_BATCH = 256, O_BYTES, O_WAIT, O_CHUNK, O_OVERLAP, O_BUF, O_SCRATCH,
	       O_FPAGE, O_FBATCH, O_SKIPPAGE, O_SKIPCHUNKS, O_FSIZE, O_USER, O_TARGET, O_STEP, O_HOLD,
	       O_VIOLATE, O_REPORT, O_TREAD, O_NOLL };
	static const struct option longopts[] = {
		{ "batch-size", required_argument, NULL, O_BATCH },
		{ "max-bytes", required_argument, NULL, O_BYTES },
		{ "max-wait-ms", required_argument, NULL, O_WAIT },
		{ "chunk-size", required_argument, NULL, O_CHUNK },
		{ "chunk-overlap", required_argument, NULL, O_OVERLAP },
		{ "buffer-size", required_argument, NULL, O_BUF },
		{ "scratch-fd", required_argument, NULL, O_SCRATCH },
		{ "first-page", required_argument, NULL, O_FPAGE },
		{ "skip-page", required_argument, NULL, O_SKIPPAGE },
		{ "skip-chunks", required_argument, NULL, O_SKIPCHUNKS },
		{ "first-batch", required_argument, NULL, O_FBATCH },
		{ "max-file-size", required_argument, NULL, O_FSIZE },
		{ "user", required_argument, NULL, O_USER },
		{ "target-mb", required_argument, NULL, O_TARGET },
		{ "step-mb", required_argument, NULL, O_STEP },
		{ "hold-ms", required_argument, NULL, O_HOLD },
		{ "test-violate", required_argument, NULL, O_VIOLATE },
		{ "report-sandbox", no_argument, NULL, O_REPORT },
		{ "test-read", required_argument, NULL, O_TREAD },
		{ "test-no-landlock", no_argument, NULL, O_NOLL },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct extract_opts xo = {
		.chunk = { .chunk_size = 1000, .overlap = 100, .batch_size = 10,
			   .max_bytes = 5000000, .max_wait_ms = 5000, .first_batch_id = 1 },
		.buffer_size = 65536, .in_fd = WORKER_FD_INPUT, .scratch_fd = -1, .first_page = 1,
	};
	struct sandbox_opts so = { .max_file_size = 100 << 20, .max_fds = 16 };
	uint64_t v, target = 0, step = 16, hold = 0;
	enum sandbox_violation violate = SANDBOX_VIOLATE_NONE;
	struct sandbox_report rep;
	const char *mode, *test_read = NULL;
	bool report = false;
	char err[512];
	int c, r = 0;

	emit_start_ms = now_real_ms();
	/* Before anything can take time: the parent whose death must end us. */
	so.parent = getppid();
	g_log_set_writer_func(log_writer, NULL, NULL);
	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
			usage(stdout);
			return 0;
		}
		usage(stderr);
		return WORKER_EXIT_USAGE;
	}
	mode = argv[1];
	if (strcmp(mode, "extract") != 0 && strcmp(mode, "pressure") != 0) {
		fprintf(stderr, "memsafe-worker: unknown mode '%s' (extract or pressure)\n", mode);
		return WORKER_EXIT_USAGE;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_BATCH: r = parse_num("--batch-size", optarg, 1, 100000, &v); xo.chunk.batch_size = (unsigned)v; break;
		case O_BYTES: r = parse_num("--max-bytes", optarg, 64, SIZE_MAX, &v); xo.chunk.max_bytes = v; break;
		case O_WAIT:
			/* 0: no time limit (memsafed.conf allows max_wait_ms = 0). */
			r = parse_num("--max-wait-ms", optarg, 0, UINT64_MAX, &v);
			xo.chunk.max_wait_ms = v ? v : UINT64_MAX;
			break;
		case O_CHUNK: r = parse_num("--chunk-size", optarg, 64, 1 << 20, &v); xo.chunk.chunk_size = v; break;
		case O_OVERLAP: r = parse_num("--chunk-overlap", optarg, 0, 1 << 19, &v); xo.chunk.overlap = v; break;
		case O_BUF: r = parse_num("--buffer-size", optarg, 4096, 16 << 20, &v); xo.buffer_size = v; break;
		case O_SCRATCH: r = parse_num("--scratch-fd", optarg, WORKER_FD_SCRATCH, WORKER_FD_SCRATCH, &v); xo.scratch_fd = (int)v; break;
		case O_FPAGE: r = parse_num("--first-page", optarg, 1, UINT32_MAX, &v); xo.first_page = (unsigned)v; break;
		case O_SKIPPAGE: r = parse_num("--skip-page", optarg, 0, UINT32_MAX, &v); xo.chunk.skip_page = (unsigned)v; break;
		case O_SKIPCHUNKS: r = parse_num("--skip-chunks", optarg, 0, UINT32_MAX, &v); xo.chunk.skip_chunks = (size_t)v; break;
		case O_FBATCH: r = parse_num("--first-batch", optarg, 1, UINT32_MAX, &v); xo.chunk.first_batch_id = v; break;
		case O_FSIZE: r = parse_num("--max-file-size", optarg, 1 << 20, UINT64_C(1) << 40, &v); so.max_file_size = v; break;
		case O_USER: so.user = optarg; break;
		case O_TARGET: r = parse_num("--target-mb", optarg, 1, 1 << 20, &target); break;
		case O_STEP: r = parse_num("--step-mb", optarg, 1, 1024, &step); break;
		case O_HOLD: r = parse_num("--hold-ms", optarg, 0, 600000, &hold); break;
		case O_VIOLATE:
			r = sandbox_violation_from_name(optarg);
			if (r < 0)
				fprintf(stderr, "memsafe-worker: --test-violate takes socket, "
					"open-write, execve or ptrace, not '%s'\n", optarg);
			else
				violate = (enum sandbox_violation)r;
			break;
		case O_REPORT: report = true; break;
		case O_TREAD: test_read = optarg; break;
		case O_NOLL: so.no_landlock = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return WORKER_EXIT_USAGE;
		}
		if (r < 0)
			return WORKER_EXIT_USAGE;
	}
	if (xo.chunk.overlap * 2 >= xo.chunk.chunk_size) {
		fprintf(stderr, "memsafe-worker: --chunk-overlap must be less than half of --chunk-size\n");
		return WORKER_EXIT_USAGE;
	}
	if (!strcmp(mode, "pressure") && target == 0) {
		fprintf(stderr, "memsafe-worker: pressure needs --target-mb N\n");
		return WORKER_EXIT_USAGE;
	}

	/* Everything that needs the filesystem happens before the sandbox. */
	if (!strcmp(mode, "extract") && extract_preinit() < 0)
		return emit_fatal("setup", "poppler could not be initialised");
	if (sandbox_enter(&so, &rep, err, sizeof err) < 0)
		return emit_fatal("setup", "sandbox setup failed, not running: %s", err);
	if (report && emit_sandbox(&rep) < 0)
		return WORKER_EXIT_IO;
	/* Test hooks: only a command-line option reaches them, never a document. */
	if (violate != SANDBOX_VIOLATE_NONE && sandbox_violate(violate, err, sizeof err) < 0)
		return emit_fatal("internal", "%s", err);
	if (test_read) {
		if (sandbox_test_read(test_read, err, sizeof err) < 0)
			return emit_fatal("internal", "%s", err);
		fprintf(stderr, "memsafe-worker: %s\n", err);
		return 0;
	}

	if (!strcmp(mode, "pressure"))
		return pressure_run(target, step, hold);
	return extract_run(&xo);
}
