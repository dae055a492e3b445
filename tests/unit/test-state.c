/* Unit tests for daemon/state.c: a job record saved to job.json and
 * loaded back is the same record (one field table drives both), more
 * attempts than the retry limit survive, and what may not be trusted
 * (a kb name that would be a path, an unknown sink) is refused. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state.h"
#include "util.h"
#include "tap.h"

static struct job_record sample(char *dir)
{
	struct job_record r = {
		.id = 42, .kind = JOB_PRESSURE, .state = JOB_RUNNING, .end = END_OOM_KILL,
		.uid = 1234, .gid = 5678, .name = "report.pdf", .kb = "team.kb-1",
		.sink = SINK_EXEC, .dir = dir, .priority = -7,
		.lim = { .memory_max = 512u << 20, .memory_high = 400u << 20,
			 .swap_max = 1u << 20, .pids_max = 64 },
		.batch_size = 5, .max_bytes = 123456, .max_wait_ms = 777, .timeout_ms = 9000,
		.target_mb = 300, .hold_ms = 1500, .size = 987654,
		.sha256 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		.submitted_ms = 1700000000001, .started_ms = 1700000000002,
		.ended_ms = 1700000000003, .pages = 200, .flushed_page = 17,
		.last_batch_id = 9, .batches = 11, .batches_flushed = 10, .batches_failed = 1,
		.chunks = 99, .retries_used = 2, .last_oom_page = 18,
		.peak_rss_kb = 1000, .peak_rss_sampled = 2048 * 1024,
		.cgstats = { .peak = 5000 }, .peak_cgroup_sampled = 4000,
		.admin = true, .page_timeout_ms = 300000, .flushed_page_chunks = 3, .restarts = 2,
		.gpu = { .limit = 1u << 30, .peak = 777, .peak_host = 555, .peak_dev = 222,
			 .partial_samples = 4, .killed = true },
	};
	r.message = strdup("OOM-killed on page 18");
	record_add_culprit(&r, 18);
	record_add_culprit(&r, 30);
	for (int i = 0; i < 12; i++) {
		struct job_attempt a = { .exit_code = i % 2 ? -1 : i, .signal = i % 2 ? 9 : -1,
					 .first_page = (unsigned)i + 1 };
		snprintf(a.end, sizeof a.end, "%s", i % 2 ? "oom_kill" : "interrupted");
		record_add_attempt(&r, &a);
	}
	return r;
}

static void test_round_trip(const char *dir)
{
	struct job_record a = sample((char *)dir), b = { 0 };

	if (!ok(state_save(&a) == 0, "job.json is written"))
		return;
	if (!ok(state_load(dir, &b) == 0, "and read back"))
		return;
	is_int(b.id, 42, "id");
	is_int(b.kind, JOB_PRESSURE, "kind");
	is_int(b.state, JOB_RUNNING, "state");
	is_int(b.end, END_OOM_KILL, "end reason");
	is_str(b.message, "OOM-killed on page 18", "message");
	is_int(b.uid, 1234, "uid");
	is_int(b.gid, 5678, "gid");
	is_str(b.name, "report.pdf", "name");
	is_str(b.kb, "team.kb-1", "kb");
	is_int(b.sink, SINK_EXEC, "sink");
	is_int(b.priority, -7, "a negative priority");
	is_int(b.lim.memory_max, 512u << 20, "memory_max");
	is_int(b.lim.memory_high, 400u << 20, "memory_high");
	is_int(b.lim.swap_max, 1u << 20, "swap_max");
	is_int(b.lim.pids_max, 64, "pids_max");
	is_int(b.batch_size, 5, "batch_size");
	is_int(b.max_bytes, 123456, "max_bytes");
	is_int(b.max_wait_ms, 777, "max_wait_ms");
	is_int(b.timeout_ms, 9000, "timeout_ms");
	is_int(b.target_mb, 300, "target_mb");
	is_int(b.hold_ms, 1500, "hold_ms");
	is_int(b.size, 987654, "size");
	is_str(b.sha256, a.sha256, "sha256");
	is_int(b.submitted_ms, 1700000000001, "submitted_ms");
	is_int(b.started_ms, 1700000000002, "started_ms");
	is_int(b.ended_ms, 1700000000003, "ended_ms");
	is_int(b.pages, 200, "pages");
	is_int(b.flushed_page, 17, "flushed_page");
	is_int(b.last_batch_id, 9, "last_batch_id");
	is_int(b.batches, 11, "batches");
	is_int(b.batches_flushed, 10, "batches_flushed");
	is_int(b.batches_failed, 1, "batches_failed");
	is_int(b.chunks, 99, "chunks");
	is_int(b.retries_used, 2, "retries_used");
	is_int(b.last_oom_page, 18, "last_oom_page");
	is_int(b.peak_rss_kb, 2048, "peak_rss_kb is the larger of the kernel's and the sampled");
	is_int(b.cgstats.peak, 5000, "peak_cgroup is the larger of memory.peak and the sampled");
	ok(b.admin, "admin");
	is_int(b.page_timeout_ms, 300000, "page_timeout_ms");
	is_int(b.flushed_page_chunks, 3, "flushed_page_chunks");
	is_int(b.restarts, 2, "restarts");
	is_int(b.gpu.limit, 1u << 30, "gpu_memory_max");
	ok(b.gpu.peak == 777 && b.gpu.peak_host == 555 && b.gpu.peak_dev == 222, "the GPU peaks");
	is_int(b.gpu.partial_samples, 4, "gpu partial samples");
	ok(b.gpu.killed, "gpu killed");
	is_int(b.n_culprits, 2, "both culprit pages");
	is_int(b.culprits[1], 30, "in order");
	is_int(b.n_attempts, 12, "12 attempts, more than the old fixed 8");
	if (b.n_attempts == 12) {
		is_int(b.attempts[11].signal, 9, "the last attempt's signal");
		is_int(b.attempts[10].exit_code, 10, "an attempt's exit code");
		is_int(b.attempts[11].first_page, 12, "an attempt's first page");
		is_str(b.attempts[11].end, "oom_kill", "an attempt's end reason");
	}
	b.dir = NULL;
	record_done(&b);
	free(a.message);
	free(a.attempts);
}

/* Write job.json by hand and load it. */
static int load_text(const char *dir, const char *text)
{
	struct job_record r = { 0 };
	char path[4096];
	FILE *f;
	int e;

	snprintf(path, sizeof path, "%s/job.json", dir);
	if (!(f = fopen(path, "w")))
		return -errno;
	fputs(text, f);
	fclose(f);
	e = state_load(dir, &r);
	record_done(&r);
	return e;
}

static void test_untrusted(const char *dir)
{
	is_int(load_text(dir, "{\"id\":1,\"kb\":\"../../etc\",\"sink\":\"jsonl\"}"), -EINVAL,
	       "a kb name that climbs out of kb/ is refused");
	is_int(load_text(dir, "{\"id\":1,\"kb\":\"default\",\"sink\":\"shell\"}"), -EINVAL,
	       "an unknown sink is refused");
	is_int(load_text(dir, "{\"id\":1,\"kb\":\"default\"}"), -EINVAL, "a missing sink is refused");
	is_int(load_text(dir, "[1,2]"), -EINVAL, "a job.json that is no object is refused");
	is_int(load_text(dir, "{\"id\":1,\"kb\":\"default\",\"sink\":\"mock\",\"state\":\"bogus\"}"),
	       0, "an unknown state loads (as failed)");
}

int main(void)
{
	char dir[4096];

	/* $TMPDIR when set, as test-gpu does: a test run may not own /tmp. */
	snprintf(dir, sizeof dir, "%s/test-state.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir)) {
		printf("1..0 # SKIP cannot make a temporary directory\n");
		return 0;
	}
	test_round_trip(dir);
	test_untrusted(dir);
	{
		char path[4200];
		snprintf(path, sizeof path, "%s/job.json", dir);
		unlink(path);
		rmdir(dir);
	}
	return tap_done();
}
