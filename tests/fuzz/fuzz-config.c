/* libFuzzer target: memsafed.conf and a drop-in (common/config.c:
 * config_load). The input is the main file; if it contains a line
 * "%%dropin", what follows that line is written to
 * memsafed.conf.d/50-fuzz.conf instead. Both live in one private
 * directory made at the first input and removed at exit; each input's
 * files are removed as soon as it has been loaded, so nothing is left
 * behind however the run ends (a crash leaves at most that directory,
 * under $TMPDIR, named memsafe-fuzz-config.*).
 *
 * Checks: a refusal explains itself (a sentence naming the file); an
 * accepted configuration survives a round trip: its config_dump loads
 * again and dumps to the same text. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

#define DROPIN_MARK "\n%%dropin\n"

static char dir[4096], main_path[4200], dropin_dir[4200], dropin_path[4300];

static void remove_files(void)
{
	unlink(dropin_path);
	rmdir(dropin_dir);
	unlink(main_path);
}

static void cleanup(void)
{
	remove_files();
	rmdir(dir);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof dir, "%s/memsafe-fuzz-config.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	fuzz_assert(mkdtemp(dir));
	snprintf(main_path, sizeof main_path, "%s/memsafed.conf", dir);
	snprintf(dropin_dir, sizeof dropin_dir, "%s/memsafed.conf.d", dir);
	snprintf(dropin_path, sizeof dropin_path, "%s/50-fuzz.conf", dropin_dir);
	atexit(cleanup);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	fuzz_assert(fd >= 0);
	fuzz_assert(write(fd, data, len) == (ssize_t)len);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *mark = memmem(data, size, DROPIN_MARK, strlen(DROPIN_MARK));
	size_t main_len = mark ? (size_t)(mark - data) : size;
	struct config cfg, again;
	char *err = NULL, *dump, *dump2;
	int r;

	if (!dir[0])
		setup();
	write_file(main_path, data, main_len);
	if (mark) {
		size_t off = main_len + strlen(DROPIN_MARK);
		fuzz_assert(mkdir(dropin_dir, 0700) == 0 || errno == EEXIST);
		write_file(dropin_path, data + off, size - off);
	}
	r = config_load(main_path, true, &cfg, &err);
	remove_files();
	if (r < 0) {
		fuzz_assert(err && *err);
		fuzz_assert(strstr(err, dir));
		free(err);
		return 0;
	}
	fuzz_assert(!err);
	fuzz_assert(cfg.max_connections_per_user <= cfg.max_connections);
	fuzz_assert(cfg.sample_interval_ms >= 20);
	fuzz_assert(cfg.memory_high_ratio > 0 && cfg.memory_high_ratio <= 1);

	/* The effective configuration, printed, is a configuration that
	 * means the same. */
	dump = config_dump(&cfg);
	fuzz_assert(dump);
	write_file(main_path, dump, strlen(dump));
	r = config_load(main_path, true, &again, &err);
	remove_files();
	if (r < 0) {
		fprintf(stderr, "config_dump output does not load again: %s\n--- dump:\n%s", err, dump);
		abort();
	}
	dump2 = config_dump(&again);
	if (strcmp(dump, dump2) != 0) {
		fprintf(stderr, "config_dump changes on a round trip\n--- first:\n%s--- second:\n%s",
			dump, dump2);
		abort();
	}
	free(dump);
	free(dump2);
	config_done(&cfg);
	config_done(&again);
	return 0;
}
