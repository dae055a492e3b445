/* Unit tests for common/config.c: defaults, presets, precedence, drop-ins,
 * error messages, the dump round trip and the shipped etc/memsafed.conf. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "util.h"
#include "tap.h"

#define K ((uint64_t)1 << 10)
#define M ((uint64_t)1 << 20)
#define G ((uint64_t)1 << 30)

static char tmproot[] = "/tmp/memsafed-test-config.XXXXXX";

/* --- helpers -------------------------------------------------------------- */

/* A fresh, empty directory for one case, as tmproot/<n>. */
static char *case_dir(void)
{
	static int n;
	char *dir;

	if (asprintf(&dir, "%s/%d", tmproot, ++n) < 0 || mkdir(dir, 0700) < 0) {
		printf("Bail out! cannot create a case directory\n");
		exit(1);
	}
	return dir;
}

/* Write text to dir/name, creating the directories on the way. */
static void put(const char *dir, const char *name, const char *text)
{
	char *path, *slash;
	FILE *f;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		exit(1);
	slash = strrchr(path, '/');
	*slash = '\0';
	if (mkdir_p(path, 0700) < 0)
		exit(1);
	*slash = '/';
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	free(path);
}

static char *join(const char *dir, const char *name)
{
	char *path;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		exit(1);
	return path;
}

/* Does dump have "key = value" in its [group]? want is "[group] key = value". */
static bool dump_has(const char *dump, const char *want)
{
	const char *close = strchr(want, ']');
	char *sect, *line;
	const char *start, *end;
	bool found = false;

	if (!close || close[1] != ' ')
		return false;
	if (asprintf(&sect, "\n%.*s\n", (int)(close - want + 1), want) < 0 ||
	    asprintf(&line, "\n%s\n", close + 2) < 0)
		exit(1);
	start = strstr(dump, sect);
	if (start) {
		start += strlen(sect) - 1;
		end = strstr(start, "\n[");
		const char *hit = strstr(start, line);
		found = hit && (!end || hit < end);
	}
	free(sect);
	free(line);
	return found;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Every field of a and b equal; names the first difference in *what. */
static bool config_equal(const struct config *a, const struct config *b, const char **what)
{
#define SAME(f) if (a->f != b->f) { *what = #f; return false; }
#define SAME_STR(f) if (!str_eq(a->f, b->f)) { *what = #f; return false; }
	SAME(profile);
	SAME_STR(socket_path);
	SAME_STR(state_dir);
	SAME_STR(worker_path);
	SAME_STR(worker_user);
	SAME_STR(admin_group);
	SAME(sample_interval_ms);
	SAME(memory_warn);
	SAME(max_file_size);
	SAME(max_concurrent);
	SAME(reserve);
	SAME(memory_max_ceiling);
	SAME(max_batch_size_ceiling);
	SAME(max_queued_per_user);
	SAME(max_connections);
	SAME(max_connections_per_user);
	SAME(max_bytes_ceiling);
	SAME(max_spool);
	SAME(max_spool_per_user);
	SAME(memory_max);
	SAME(memory_high_ratio);
	SAME(swap_max);
	SAME(pids_max);
	SAME(batch_size);
	SAME(max_bytes);
	SAME(max_wait_ms);
	SAME(chunk_size);
	SAME(chunk_overlap);
	SAME(timeout_ms);
	SAME(retries);
	SAME_STR(sink);
	SAME_STR(kb);
	SAME(stream_chunk_size);
	SAME(stream_buffer_size);
	SAME(pressure_policy);
	SAME(admission_psi_max);
	SAME(psi_threshold_us);
	SAME(psi_window_us);
	SAME(pressure_hold_ms);
	SAME_STR(exec_command);
	SAME(exec_timeout_ms);
#undef SAME
#undef SAME_STR
	*what = NULL;
	return true;
}

/* --- defaults ------------------------------------------------------------- */

static void test_defaults(void)
{
	struct config c, d;
	char *dir = case_dir(), *path = join(dir, "memsafed.conf"), *err = NULL;
	const char *what = NULL;
	bool same;
	int r;

	config_init(&c);
	is_int(c.profile, PROFILE_BALANCED, "default profile is balanced");
	is_str(c.socket_path, RUNSTATEDIR "/memsafed/memsafed.sock", "default socket");
	is_str(c.state_dir, LOCALSTATEDIR "/lib/memsafed", "default state_dir");
	is_str(c.worker_path, LIBEXECDIR "/memsafe-worker", "default worker");
	is_str(c.worker_user, "memsafe-worker", "default worker_user");
	is_str(c.admin_group, "memsafe-admin", "default admin_group");
	is_int(c.sample_interval_ms, 200, "default sample_interval 200ms");
	is_int(c.memory_warn, 500 * M, "default memory_warn 500M");
	is_int(c.max_file_size, 50 * M, "default max_file_size 50M");
	is_int(c.max_concurrent, 2, "default max_concurrent 2");
	is_int(c.reserve, 1 * G, "default reserve 1G");
	is_int(c.memory_max_ceiling, 16 * G, "default memory_max_ceiling 16G");
	is_int(c.gpu_memory_max_ceiling, 0, "default gpu_memory_max_ceiling 0 (none)");
	is_int(c.gpu_memory_max, 0, "default gpu_memory_max 0 (no limit of its own)");
	is_int(c.max_batch_size_ceiling, 500, "default max_batch_size_ceiling 500");
	is_int(c.max_queued_per_user, 64, "default max_queued_per_user 64");
	is_int(c.max_connections, 128, "default max_connections 128");
	is_int(c.max_connections_per_user, 16, "default max_connections_per_user 16");
	is_int(c.max_bytes_ceiling, 16 * M, "default max_bytes_ceiling 16M");
	is_int(c.max_spool, 8 * G, "default max_spool 8G");
	is_int(c.max_spool_per_user, 2 * G, "default max_spool_per_user 2G");
	is_int(c.memory_max, 6 * G, "default memory_max 6G");
	ok(c.memory_high_ratio == 0.9, "default memory_high_ratio 0.9");
	is_int(c.swap_max, 0, "default swap_max 0");
	is_int(c.pids_max, 64, "default pids_max 64");
	is_int(c.batch_size, 20, "default batch_size 20 (balanced preset)");
	is_int(c.max_bytes, 5000000, "default max_bytes 5000000");
	is_int(c.max_wait_ms, 5000, "default max_wait_ms 5000");
	is_int(c.chunk_size, 1000, "default chunk_size 1000");
	is_int(c.chunk_overlap, 100, "default chunk_overlap 100");
	is_int(c.timeout_ms, 0, "default timeout none");
	is_int(c.retries, 2, "default retries 2");
	is_str(c.sink, "jsonl", "default sink jsonl");
	is_str(c.kb, "default", "default kb");
	is_int(c.stream_chunk_size, 256 * K, "default stream_chunk_size 256K");
	is_int(c.stream_buffer_size, 64 * K, "default stream_buffer_size 64K");
	is_int(c.pressure_policy, POLICY_PAUSE, "default policy pause");
	ok(c.admission_psi_max == 10.0, "default admission_psi_max 10.0");
	is_int(c.psi_threshold_us, 150000, "default psi_threshold 150ms in us");
	is_int(c.psi_window_us, 2000000, "default psi_window 2s in us");
	is_int(c.pressure_hold_ms, 5000, "default hold_time 5s");
	ok(c.exec_command == NULL, "default [sink.exec] command unset");
	is_int(c.exec_timeout_ms, 30000, "default [sink.exec] timeout 30s");

	/* No file at all is the built-in defaults when the file is optional. */
	r = config_load(path, false, &d, &err);
	is_int(r, 0, "missing main file, must_exist=false: loads");
	same = r == 0 && config_equal(&c, &d, &what);
	ok(same, "missing main file gives the defaults (%s differs)", what ? what : "nothing");
	if (r == 0)
		config_done(&d);

	/* ...and an error naming the file when it is required. */
	r = config_load(path, true, &d, &err);
	is_int(r, -ENOENT, "missing main file, must_exist=true: -ENOENT");
	ok(err && strncmp(err, path, strlen(path)) == 0 && strstr(err, "No such file"),
	   "missing main file: message names the file (%s)", err ? err : "(null)");
	free(err);
	err = NULL;

	/* An empty file is the defaults too. */
	put(dir, "memsafed.conf", "");
	r = config_load(path, true, &d, &err);
	same = r == 0 && config_equal(&c, &d, &what);
	ok(same, "empty main file gives the defaults (%s differs)", what ? what : "nothing");
	if (r == 0)
		config_done(&d);

	is_str(config_profile_name(PROFILE_SAFETY), "safety", "profile name safety");
	is_str(config_profile_name(PROFILE_SPEED), "speed", "profile name speed");
	is_str(pressure_policy_name(POLICY_NONE), "none", "policy name none");
	is_str(pressure_policy_name(POLICY_KILL), "kill", "policy name kill");

	config_done(&c);
	config_done(&c); /* twice is harmless: pointers were reset */
	config_done(NULL);
	free(path);
	free(dir);
}

/* --- table: files in, configuration or error out ---------------------------- */

struct file {
	const char *name; /* relative to the case directory */
	const char *text;
};

struct load_case {
	const char *name;
	struct file files[5];
	bool optional; /* must_exist = false */
	int r;
	/* Success: lines "[group] key = value" the dump must contain.
	 * Failure: substrings of the message. */
	const char *want[6];
	/* Failure: "file:line" the message must start with. */
	const char *at;
};

#define MAIN "memsafed.conf"
#define DROPIN(n) "memsafed.conf.d/" n

static const struct load_case cases[] = {
	/* presets */
	{ "profile safety",
	  { { MAIN, "[daemon]\nprofile = safety\n" } }, .want = {
		  "[limits] max_file_size = 25M", "[stream] stream_chunk_size = 128K",
		  "[job] batch_size = 10", "[limits] max_concurrent = 1",
		  "[daemon] profile = safety" } },
	{ "profile balanced",
	  { { MAIN, "[daemon]\nprofile = balanced\n" } }, .want = {
		  "[limits] max_file_size = 50M", "[stream] stream_chunk_size = 256K",
		  "[job] batch_size = 20", "[limits] max_concurrent = 2" } },
	{ "profile speed",
	  { { MAIN, "[daemon]\nprofile=speed\n" } }, .want = {
		  "[limits] max_file_size = 100M", "[stream] stream_chunk_size = 1M",
		  "[job] batch_size = 50", "[limits] max_concurrent = 5" } },

	/* explicit keys beat the preset, wherever profile= is */
	{ "explicit key after profile",
	  { { MAIN, "[daemon]\nprofile = speed\n[job]\nbatch_size = 7\n" } }, .want = {
		  "[job] batch_size = 7", "[limits] max_file_size = 100M" } },
	{ "explicit key before profile",
	  { { MAIN, "[job]\nbatch_size = 7\n[daemon]\nprofile = speed\n" } }, .want = {
		  "[job] batch_size = 7", "[limits] max_file_size = 100M" } },
	{ "explicit key in main file, profile in a drop-in",
	  { { MAIN, "[limits]\nmax_concurrent = 3\n[stream]\nstream_chunk_size = 64K\n" },
	    { DROPIN("50-profile.conf"), "[daemon]\nprofile = safety\n" } }, .want = {
		  "[limits] max_concurrent = 3", "[stream] stream_chunk_size = 64K",
		  "[job] batch_size = 10", "[limits] max_file_size = 25M" } },
	{ "profile in main file, explicit key in a drop-in",
	  { { MAIN, "[daemon]\nprofile = safety\n" },
	    { DROPIN("50-size.conf"), "[limits]\nmax_file_size = 10M\n" } }, .want = {
		  "[limits] max_file_size = 10M", "[job] batch_size = 10",
		  "[daemon] profile = safety" } },
	{ "later profile in a drop-in replaces the earlier one",
	  { { MAIN, "[daemon]\nprofile = safety\n" },
	    { DROPIN("50-speed.conf"), "[daemon]\nprofile = speed\n" } }, .want = {
		  "[daemon] profile = speed", "[job] batch_size = 50" } },

	/* drop-ins */
	{ "drop-ins in lexical order, after the main file",
	  { { MAIN, "[job]\nmemory_max = 3G\nretries = 5\n" },
	    { DROPIN("20-b.conf"), "[job]\nmemory_max = 2G\n" },
	    { DROPIN("10-a.conf"), "[job]\nmemory_max = 1G\npids_max = 9\n" } }, .want = {
		  "[job] memory_max = 2G", "[job] pids_max = 9", "[job] retries = 5" } },
	{ "drop-in order is strcmp, not locale or case folding",
	  { { DROPIN("a.conf"), "[job]\nkb = lower\n" },
	    { DROPIN("B.conf"), "[job]\nkb = upper\n" } },
	  .optional = true, .want = { "[job] kb = lower" } },
	{ "only *.conf files are drop-ins",
	  { { MAIN, "[job]\nkb = main\n" },
	    { DROPIN("90-x.conf.disabled"), "[job]\nkb = disabled\n" },
	    { DROPIN(".80-hidden.conf"), "[job]\nkb = hidden\n" },
	    { DROPIN("70-dir.conf/x.conf"), "[job]\nkb = subdir\n" },
	    { DROPIN("README"), "not a configuration file\n" } }, .want = { "[job] kb = main" } },
	{ "drop-ins apply without a main file",
	  { { DROPIN("10-a.conf"), "[job]\nsink = mock\n" } },
	  .optional = true, .want = { "[job] sink = mock" } },
	{ "a later duplicate key in one file wins",
	  { { MAIN, "[job]\nretries = 1\n[job]\nretries = 3\n" } }, .want = { "[job] retries = 3" } },
	{ "values: trailing blanks ignored, comments, blank lines",
	  { { MAIN, "# comment\n\n  [pressure]  \n  policy = kill  \n\t# more\npsi_window=500ms\n"
		    "psi_threshold = 500ms\nadmission_psi_max = 55.5\n" } }, .want = {
		  "[pressure] policy = kill", "[pressure] psi_window = 500ms",
		  "[pressure] psi_threshold = 500ms", "[pressure] admission_psi_max = 55.5" } },
	{ "durations and sizes in every spelling",
	  { { MAIN, "[daemon]\nsample_interval = 1m\nmemory_warn = 1GiB\n"
		    "[job]\nmax_wait_ms = 2s\ntimeout = 2h\nchunk_size = 1K\nmax_bytes = 1048576\n"
		    "[sink.exec]\ntimeout = 0\n" } }, .want = {
		  "[daemon] sample_interval = 1m", "[daemon] memory_warn = 1G",
		  "[job] max_wait_ms = 2000", "[job] timeout = 2h", "[job] chunk_size = 1K",
		  "[job] max_bytes = 1M" } },
	{ "sink exec with a command",
	  { { MAIN, "[job]\nsink = exec\n[sink.exec]\ncommand = /usr/bin/kb-import --fast\n" } },
	  .want = { "[job] sink = exec", "[sink.exec] command = /usr/bin/kb-import --fast",
		    "[sink.exec] timeout = 30s", "[job] timeout = 0" } },
	{ "raised ceilings admit larger jobs",
	  { { MAIN, "[job]\nmemory_max = 20G\nbatch_size = 900\n" },
	    { DROPIN("10-ceil.conf"), "[limits]\nmemory_max_ceiling = 32G\n"
				      "max_batch_size_ceiling = 1000\n" } }, .want = {
		  "[job] memory_max = 20G", "[job] batch_size = 900" } },

	/* bad values: file, line, group, key, value, what is allowed */
	{ "not a size",
	  { { MAIN, "[job]\n\nmemory_max = 6X\n" } }, .r = -EINVAL, .at = MAIN ":3", .want = {
		  "[job] memory_max = \"6X\": not a size (use a number with an optional K, M, G "
		  "or T suffix, e.g. 6G)" } },
	{ "fractional size",
	  { { MAIN, "[limits]\nmax_file_size = 1.5G\n" } }, .r = -EINVAL, .at = MAIN ":2", .want = {
		  "[limits] max_file_size = \"1.5G\": not a size" } },
	{ "size overflow",
	  { { MAIN, "[limits]\nreserve = 99999999999T\n" } }, .r = -EINVAL, .at = MAIN ":2", .want = {
		  "[limits] reserve", "too large" } },
	{ "memory_max below 4M",
	  { { MAIN, "[job]\nmemory_max = 1M\n" } }, .r = -EINVAL, .at = MAIN ":2", .want = {
		  "[job] memory_max = \"1M\": out of range (allowed: at least 4M)" } },
	{ "not a duration",
	  { { MAIN, "[daemon]\nsample_interval = soon\n" } }, .r = -EINVAL, .at = MAIN ":2", .want = {
		  "[daemon] sample_interval = \"soon\": not a duration (use a number with an "
		  "optional ms, s, m or h suffix" } },
	{ "sample_interval too short",
	  { { MAIN, "[daemon]\nprofile = speed\nsample_interval = 5ms\n" } }, .r = -EINVAL,
	  .at = MAIN ":3", .want = { "sample_interval = \"5ms\": out of range (allowed: 20ms to 1m)" } },
	{ "sample_interval too long",
	  { { MAIN, "[daemon]\nsample_interval = 61s\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "out of range (allowed: 20ms to 1m)" } },
	{ "memory_high_ratio zero",
	  { { MAIN, "[job]\nmemory_high_ratio = 0\n" } }, .r = -EINVAL, .at = MAIN ":2", .want = {
		  "[job] memory_high_ratio = \"0\": out of range (use a number above 0 and at most 1)" } },
	{ "memory_high_ratio above one",
	  { { MAIN, "[job]\nmemory_high_ratio = 1.01\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "memory_high_ratio", "out of range" } },
	{ "memory_high_ratio not a number",
	  { { MAIN, "[job]\nmemory_high_ratio = nan\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "memory_high_ratio = \"nan\": not a number" } },
	{ "max_concurrent zero",
	  { { MAIN, "[limits]\nmax_concurrent = 0\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "[limits] max_concurrent = \"0\": out of range (allowed: 1 to 64)" } },
	{ "max_concurrent 65",
	  { { MAIN, "[limits]\nmax_concurrent = 65\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "out of range (allowed: 1 to 64)" } },
	{ "negative count",
	  { { MAIN, "[job]\nretries = -1\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "[job] retries = \"-1\": not a whole number" } },
	{ "batch_size zero",
	  { { MAIN, "[job]\nbatch_size = 0\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "[job] batch_size = \"0\": out of range" } },
	{ "stream_chunk_size too small",
	  { { MAIN, "[stream]\nstream_chunk_size = 2K\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "[stream] stream_chunk_size = \"2K\": out of range (allowed: 4K to 16M)" } },
	{ "stream_buffer_size too large",
	  { { MAIN, "[stream]\nstream_buffer_size = 32M\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "[stream] stream_buffer_size = \"32M\": out of range (allowed: 4K to 16M)" } },
	{ "chunk_size too small",
	  { { MAIN, "[job]\nchunk_size = 32\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "[job] chunk_size = \"32\": out of range (allowed: 64 to 1M)" } },
	{ "chunk_size too large",
	  { { MAIN, "[job]\nchunk_size = 2M\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "out of range (allowed: 64 to 1M)" } },
	{ "unknown policy",
	  { { MAIN, "[pressure]\npolicy = freeze\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "[pressure] policy = \"freeze\": not a pressure policy (use none, pause or kill)" } },
	{ "unknown profile",
	  { { MAIN, "[daemon]\nprofile = fast\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "[daemon] profile = \"fast\": not a profile (use safety, balanced or speed)" } },
	{ "unknown sink",
	  { { MAIN, "[job]\nsink = kafka\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "[job] sink = \"kafka\": not a sink (use mock, jsonl or exec)" } },
	{ "kb starting with a dot",
	  { { MAIN, "[job]\nkb = .hidden\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "[job] kb = \".hidden\": not a knowledge base name" } },
	{ "kb with a slash",
	  { { MAIN, "[job]\nkb = ../etc\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "kb = \"../etc\": not a knowledge base name" } },
	{ "kb of 65 characters",
	  { { MAIN, "[job]\nkb = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n" } },
	  .r = -EINVAL, .at = MAIN ":2", .want = { "not a knowledge base name (use 1 to 64" } },
	{ "relative socket path",
	  { { MAIN, "[daemon]\nsocket = memsafed.sock\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "[daemon] socket = \"memsafed.sock\": not an absolute path" } },
	{ "socket path too long for sun_path",
	  { { MAIN, "[daemon]\nsocket = /run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "too long for a socket address" } },
	{ "empty worker_user",
	  { { MAIN, "[daemon]\nworker_user =\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "[daemon] worker_user = \"\": not a user or group name" } },
	{ "psi_window below the kernel's 500ms",
	  { { MAIN, "[pressure]\npsi_window = 100ms\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "[pressure] psi_window = \"100ms\": out of range (allowed: 500ms to 10s)" } },
	{ "empty exec command",
	  { { MAIN, "[sink.exec]\ncommand =\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "[sink.exec] command = \"\": empty" } },
	{ "string that is not UTF-8",
	  { { MAIN, "[sink.exec]\ncommand = /bin/\xff\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "[sink.exec] command = \"/bin/\\377\": not valid UTF-8" } },
	{ "bad value in a drop-in names the drop-in",
	  { { MAIN, "[job]\nmemory_max = 6G\n" },
	    { DROPIN("10-a.conf"), "[job]\nretries = 1\n" },
	    { DROPIN("20-b.conf"), "# tuning\n[job]\nretries = 2\n\nmemory_max = lots\n" } },
	  .r = -EINVAL, .at = DROPIN("20-b.conf") ":5", .want = { "[job] memory_max = \"lots\": not a size" } },

	/* unknown groups and keys */
	{ "misspelt key",
	  { { MAIN, "[job]\nmemroy_max = 6G\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "unknown key 'memroy_max' in [job]", "did you mean 'memory_max'?" } },
	{ "key in the wrong group",
	  { { MAIN, "[daemon]\nprofile = speed\n[limits]\nmemory_max = 6G\n" } }, .r = -EINVAL,
	  .at = MAIN ":4", .want = { "unknown key 'memory_max' in [limits]", "belongs in [job]" } },
	{ "unrelated key lists the known ones",
	  { { MAIN, "[stream]\nfoo = 1\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "unknown key 'foo' in [stream]", "stream_chunk_size, stream_buffer_size" } },
	{ "localized key",
	  { { MAIN, "[job]\nkb = x\nkb[de] = y\n" } }, .r = -EINVAL, .at = MAIN ":3",
	  .want = { "unknown key 'kb[de]' in [job]" } },
	{ "unknown group",
	  { { MAIN, "[job]\nkb = x\n\n[jobs]\nkb = y\n" } }, .r = -EINVAL, .at = MAIN ":4",
	  .want = { "unknown group [jobs]", "[job]" } },

	/* syntax */
	{ "line that is not a key, group or comment",
	  { { MAIN, "[job]\nkb = x\nmemory_max 6G\n" } }, .r = -EINVAL, .at = MAIN ":3",
	  .want = { "memory_max 6G" } },
	{ "key before any group",
	  { { MAIN, "# header\nkb = x\n[job]\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "group" } },
	{ "unterminated group",
	  { { MAIN, "[job]\nkb = x\n[pressure\n" } }, .r = -EINVAL, .at = MAIN ":3",
	  .want = { "[pressure" } },
	{ "syntax error in a drop-in",
	  { { MAIN, "[job]\n" }, { DROPIN("10-a.conf"), "[job\n" } }, .r = -EINVAL,
	  .at = DROPIN("10-a.conf") ":1", .want = { "[job" } },

	/* checks across keys, after merging */
	{ "batch_size above the default ceiling",
	  { { MAIN, "[job]\nbatch_size = 600\n" } }, .r = -EINVAL, .at = MAIN ":2", .want = {
		  "[job] batch_size = \"600\": [job] batch_size (600) exceeds [limits] "
		  "max_batch_size_ceiling (500)" } },
	{ "ceiling below the preset's batch_size blames the key set last",
	  { { MAIN, "[daemon]\nprofile = speed\n" },
	    { DROPIN("10-ceil.conf"), "[limits]\n\nmax_batch_size_ceiling = 30\n" } }, .r = -EINVAL,
	  .at = DROPIN("10-ceil.conf") ":3", .want = {
		  "[limits] max_batch_size_ceiling = \"30\"", "batch_size (50, from profile speed)" } },
	{ "preset set after the ceiling is blamed",
	  { { MAIN, "[limits]\nmax_batch_size_ceiling = 30\n" },
	    { DROPIN("10-speed.conf"), "[daemon]\nprofile = speed\n" } }, .r = -EINVAL,
	  .at = DROPIN("10-speed.conf") ":2", .want = { "[daemon] profile = \"speed\"",
							"exceeds [limits] max_batch_size_ceiling (30)" } },
	{ "batch_size set after the ceiling is blamed",
	  { { MAIN, "[limits]\nmax_batch_size_ceiling = 30\n" },
	    { DROPIN("10-batch.conf"), "[job]\nbatch_size = 40\n" } }, .r = -EINVAL,
	  .at = DROPIN("10-batch.conf") ":2", .want = { "[job] batch_size = \"40\"" } },
	{ "within one file the later line is blamed",
	  { { MAIN, "[limits]\nmax_batch_size_ceiling = 30\n[job]\nbatch_size = 40\n" } }, .r = -EINVAL,
	  .at = MAIN ":4", .want = { "[job] batch_size = \"40\"" } },
	{ "memory_max above the ceiling",
	  { { MAIN, "[job]\nmemory_max = 20G\n" } }, .r = -EINVAL, .at = MAIN ":2", .want = {
		  "[job] memory_max = \"20G\": [job] memory_max (20G) exceeds [limits] "
		  "memory_max_ceiling (16G)" } },
	{ "ceiling below the default memory_max",
	  { { MAIN, "[limits]\nmemory_max_ceiling = 4G\n" } }, .r = -EINVAL, .at = MAIN ":2", .want = {
		  "[limits] memory_max_ceiling = \"4G\"", "memory_max (6G) exceeds" } },
	{ "chunk_overlap not below chunk_size",
	  { { MAIN, "[job]\nchunk_size = 500\nchunk_overlap = 500\n" } }, .r = -EINVAL, .at = MAIN ":3",
	  .want = { "chunk_overlap (500) must be less than half of [job] chunk_size (500)" } },
	{ "max_connections_per_user above max_connections",
	  { { MAIN, "[limits]\nmax_connections_per_user = 200\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "max_connections_per_user (200) exceeds [limits] max_connections (128)" } },
	{ "max_bytes above max_bytes_ceiling",
	  { { MAIN, "[limits]\nmax_bytes_ceiling = 1M\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "[job] max_bytes (5000000) exceeds [limits] max_bytes_ceiling (1M)" } },
	{ "gpu_memory_max above gpu_memory_max_ceiling",
	  { { MAIN, "[limits]\ngpu_memory_max_ceiling = 2G\n[job]\ngpu_memory_max = 3G\n" } },
	  .r = -EINVAL, .at = MAIN ":4", .want = {
		  "[job] gpu_memory_max (3G) exceeds [limits] gpu_memory_max_ceiling (2G)" } },
	{ "max_bytes_ceiling above 64M",
	  { { MAIN, "[limits]\nmax_bytes_ceiling = 65M\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "max_bytes_ceiling" } },
	{ "max_spool_per_user above max_spool",
	  { { MAIN, "[limits]\nmax_spool = 1G\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "max_spool_per_user (2G) exceeds [limits] max_spool (1G)" } },
	{ "psi_threshold longer than psi_window",
	  { { MAIN, "[pressure]\npsi_threshold = 3s\n" } }, .r = -EINVAL, .at = MAIN ":2",
	  .want = { "psi_threshold (3s) exceeds [pressure] psi_window (2s)" } },
	{ "sink exec without a command",
	  { { MAIN, "[job]\nkb = x\nsink = exec\n" } }, .r = -EINVAL, .at = MAIN ":3",
	  .want = { "[job] sink = \"exec\"", "needs [sink.exec] command" } },
};

/* Print text as TAP diagnostics, "# " before every line. */
static void diag_lines(const char *title, const char *text)
{
	printf("# %s:\n", title);
	for (const char *p = text ? text : "(null)"; *p;) {
		const char *nl = strchr(p, '\n');
		int n = nl ? (int)(nl - p) : (int)strlen(p);

		printf("#   %.*s\n", n, p);
		p += n + (nl ? 1 : 0);
	}
}

static void run_case(const struct load_case *c)
{
	char *dir = case_dir(), *path = join(dir, MAIN), *err = NULL, *dump;
	struct config cfg, before;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(c->files) && c->files[i].name; i++)
		put(dir, c->files[i].name, c->files[i].text);

	/* *ret must be untouched on failure: fill it with a known pattern. */
	memset(&cfg, 0x5a, sizeof cfg);
	memcpy(&before, &cfg, sizeof cfg);
	r = config_load(path, !c->optional, &cfg, &err);
	is_int(r, c->r, "%s: returns %d", c->name, c->r);

	if (r == 0) {
		ok(!err, "%s: no message", c->name);
		dump = config_dump(&cfg);
		for (size_t i = 0; i < ARRAY_SIZE(c->want) && c->want[i]; i++)
			if (!ok(dump && dump_has(dump, c->want[i]), "%s: %s", c->name, c->want[i]))
				diag_lines("dump", dump);
		free(dump);
		config_done(&cfg);
	} else if (c->r != 0) {
		char *at = join(dir, c->at);

		ok(memcmp(&cfg, &before, sizeof cfg) == 0, "%s: *ret untouched", c->name);
		ok(err && strncmp(err, at, strlen(at)) == 0 && err[strlen(at)] == ':',
		   "%s: message starts with %s:", c->name, c->at);
		for (size_t i = 0; i < ARRAY_SIZE(c->want) && c->want[i]; i++)
			ok(err && strstr(err, c->want[i]), "%s: message has '%s'", c->name, c->want[i]);
		ok(err && !strchr(err, '\n'), "%s: message is one line", c->name);
		if (err)
			printf("# %s\n", err);
		free(at);
	}
	free(err);
	free(path);
	free(dir);
}

/* An error with err == NULL still fails cleanly. */
static void test_null_err(void)
{
	char *dir = case_dir(), *path = join(dir, MAIN);
	struct config cfg;

	put(dir, MAIN, "[job]\nmemory_max = 6X\n");
	is_int(config_load(path, true, &cfg, NULL), -EINVAL, "error without err pointer");
	free(path);
	free(dir);
}

/* --- dump and load again --------------------------------------------------- */

static void round_trip(const char *name, const struct config *c)
{
	char *dir = case_dir(), *path = join(dir, MAIN), *err = NULL, *dump, *dump2 = NULL;
	struct config back;
	const char *what = NULL;
	bool same;
	int r;

	dump = config_dump(c);
	ok(dump != NULL, "%s: dump", name);
	if (!dump)
		goto out;
	put(dir, MAIN, dump);
	r = config_load(path, true, &back, &err);
	is_int(r, 0, "%s: dump loads (%s)", name, err ? err : "no error");
	if (r < 0)
		goto out;
	same = config_equal(c, &back, &what);
	ok(same, "%s: loads back equal (%s differs)", name, what ? what : "nothing");
	dump2 = config_dump(&back);
	is_str(dump2, dump, "%s: dumps the same twice", name);
	config_done(&back);
out:
	free(dump);
	free(dump2);
	free(err);
	free(path);
	free(dir);
}

static void test_round_trip(void)
{
	char *dir = case_dir(), *path = join(dir, MAIN), *err = NULL, *dump;
	struct config c;
	int r;

	config_init(&c);
	round_trip("defaults", &c);
	dump = config_dump(&c);
	ok(dump && dump_has(dump, "[daemon] profile = balanced") &&
	   dump_has(dump, "[job] memory_high_ratio = 0.9") &&
	   dump_has(dump, "[pressure] psi_threshold = 150ms") &&
	   dump_has(dump, "[pressure] admission_psi_max = 10") &&
	   dump_has(dump, "[sink.exec] timeout = 30s") &&
	   dump_has(dump, "[daemon] sample_interval = 200ms") &&
	   dump_has(dump, "[daemon] memory_warn = 500M"),
	   "dump writes sizes and durations the way people do");
	ok(dump && strstr(dump, "\n#command =\n"), "dump shows an unset command commented out");
	free(dump);
	config_done(&c);

	/* Every key away from its default, and strings that need escaping. */
	put(dir, MAIN,
	    "[daemon]\nprofile = safety\nsocket = /tmp/a b/s.sock\nstate_dir = /var/x\\\\y\n"
	    "worker = /opt/w\nworker_user = u_1\nadmin_group = g.2\nsample_interval = 1500ms\n"
	    "memory_warn = 1000\n"
	    "[limits]\nmax_file_size = 3M\nmax_concurrent = 4\nreserve = 0\n"
	    "memory_max_ceiling = 64G\nmax_batch_size_ceiling = 99\nmax_queued_per_user = 5\n"
	    "max_connections = 9\nmax_connections_per_user = 9\nmax_bytes_ceiling = 2K\n"
	    "max_spool = 3G\nmax_spool_per_user = 3G\n"
	    "[job]\nmemory_max = 12345678\nmemory_high_ratio = 0.3\nswap_max = 1T\npids_max = 7\n"
	    "batch_size = 98\nmax_bytes = 1K\nmax_wait_ms = 1m\nchunk_size = 64\nchunk_overlap = 0\n"
	    "timeout = 90s\nretries = 0\nsink = exec\nkb = Kb-1.x\n"
	    "[stream]\nstream_chunk_size = 4K\nstream_buffer_size = 16M\n"
	    "[pressure]\npolicy = none\nadmission_psi_max = 0.1\npsi_threshold = 10s\n"
	    "psi_window = 10s\nhold_time = 0\n"
	    "[sink.exec]\ncommand = \\s/bin/sh -c 'echo\\tx'\\s\ntimeout = 1h\n");
	r = config_load(path, true, &c, &err);
	is_int(r, 0, "every key changed: loads (%s)", err ? err : "no error");
	if (r == 0) {
		is_str(c.socket_path, "/tmp/a b/s.sock", "string with a space");
		is_str(c.state_dir, "/var/x\\y", "string with a backslash");
		is_str(c.exec_command, " /bin/sh -c 'echo\tx' ", "string with edge blanks and a tab");
		is_int(c.psi_threshold_us, 10000000, "psi_threshold 10s in us");
		ok(c.memory_high_ratio == 0.3, "memory_high_ratio 0.3");
		round_trip("every key changed", &c);
		config_done(&c);
	}
	free(err);
	free(path);
	free(dir);
}

/* --- the shipped etc/memsafed.conf ------------------------------------------ */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	char *line = NULL;
	size_t cap = 0;

	if (!f)
		return NULL;
	buf = calloc(1, 1);
	while (buf && (n = getline(&line, &cap, f)) >= 0) {
		char *p = realloc(buf, len + (size_t)n + 1);
		if (!p) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = p;
		memcpy(buf + len, line, (size_t)n + 1);
		len += (size_t)n;
	}
	free(line);
	fclose(f);
	return buf;
}

static void test_shipped(void)
{
	const char *top = getenv("top_srcdir");
	char *path, *text, *dir, *copy, *err = NULL, *out, *o;
	struct config def, c;
	const char *what = NULL;
	int r, uncommented = 0;

	if (!top || !*top) {
		ok(1, "# SKIP top_srcdir is not set, cannot find etc/memsafed.conf");
		return;
	}
	path = join(top, "etc/memsafed.conf");
	config_init(&def);

	/* Loads as it is, and changes nothing. Copied so that no drop-ins
	 * from the source tree's etc/ get in. */
	text = slurp(path);
	ok(text != NULL, "etc/memsafed.conf is readable");
	if (!text)
		goto out;
	dir = case_dir();
	copy = join(dir, MAIN);
	put(dir, MAIN, text);
	r = config_load(copy, true, &c, &err);
	is_int(r, 0, "etc/memsafed.conf loads (%s)", err ? err : "no error");
	if (r == 0) {
		bool same = config_equal(&def, &c, &what);
		ok(same, "etc/memsafed.conf is the defaults (%s differs)", what ? what : "nothing");
		config_done(&c);
	}
	free(err);
	err = NULL;
	free(copy);
	free(dir);

	/* Uncomment every "#key = value": the documented defaults must be
	 * the real ones. The command has none, and the paths depend on how
	 * the build was configured. */
	out = o = malloc(strlen(text) + 1);
	if (!out)
		goto out;
	for (char *line = text, *next; line && *line; line = next) {
		size_t n;
		next = strchr(line, '\n');
		next = next ? next + 1 : NULL;
		n = next ? (size_t)(next - line) : strlen(line);
		if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' && memchr(line, '=', n) &&
		    strncmp(line, "#command", 8) != 0 && strncmp(line, "#socket ", 8) != 0 &&
		    strncmp(line, "#state_dir", 10) != 0 && strncmp(line, "#worker ", 8) != 0) {
			line++, n--;
			uncommented++;
		}
		memcpy(o, line, n);
		o += n;
	}
	*o = '\0';
	ok(uncommented == 42, "etc/memsafed.conf lists every key (%d of 42 uncommented)",
	   uncommented);
	dir = case_dir();
	copy = join(dir, MAIN);
	put(dir, MAIN, out);
	r = config_load(copy, true, &c, &err);
	is_int(r, 0, "etc/memsafed.conf uncommented loads (%s)", err ? err : "no error");
	if (r == 0) {
		bool same = config_equal(&def, &c, &what);
		ok(same, "etc/memsafed.conf documents the real defaults (%s differs)",
		   what ? what : "nothing");
		config_done(&c);
	}
	free(err);
	free(copy);
	free(dir);
	free(out);
out:
	free(text);
	config_done(&def);
	free(path);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

int main(void)
{
	if (!mkdtemp(tmproot)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}

	test_defaults();
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		run_case(&cases[i]);
	test_null_err();
	test_round_trip();
	test_shipped();

	nftw(tmproot, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
