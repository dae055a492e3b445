/* Unit tests for daemon/outcome.c and the names of daemon/record.c: how a
 * worker's end is classified, which state each end leads to, and the names
 * people and programs see (memsafed(8)), both ways. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <signal.h>
#include <stdbool.h>

#include "outcome.h"
#include "record.h"
#include "util.h"
#include "tap.h"

#define EXIT(code) .exited = true, .code_or_signal = (code)
#define SIGNAL(sig) .exited = false, .code_or_signal = (sig)

struct classify_case {
	const char *what;
	struct job_exit x;
	enum job_end want;
};

static const struct classify_case classify_cases[] = {
	/* normal completion needs both exit 0 and the end frame */
	{ "exit 0 with end frame", { EXIT(0), .saw_end_frame = true }, END_OK },
	{ "exit 0 without end frame", { EXIT(0) }, END_CRASH },
	{ "exit 1 with end frame", { EXIT(1), .saw_end_frame = true }, END_CRASH },
	{ "exit 0, end frame, but a fatal frame too",
	  { EXIT(0), .saw_end_frame = true, .fatal = "internal" }, END_CRASH },
	{ "exit 0 with end frame while a sink child was OOM-killed",
	  { EXIT(0), .saw_end_frame = true, .oom_kills = 1 }, END_OK },

	/* the kernel's verdict */
	{ "SIGKILL with oom_kills > 0", { SIGNAL(SIGKILL), .oom_kills = 1 }, END_OOM_KILL },
	{ "SIGKILL with many oom_kills", { SIGNAL(SIGKILL), .oom_kills = 12 }, END_OOM_KILL },
	{ "SIGKILL without an OOM kill", { SIGNAL(SIGKILL) }, END_CRASH },
	{ "SIGKILL, OOM, while a fatal bad_document was reported",
	  { SIGNAL(SIGKILL), .oom_kills = 1, .fatal = "bad_document" }, END_OOM_KILL },
	{ "SIGKILL, OOM, while a fatal internal was reported",
	  { SIGNAL(SIGKILL), .oom_kills = 1, .fatal = "internal" }, END_OOM_KILL },
	{ "SIGKILL, OOM, after the end frame",
	  { SIGNAL(SIGKILL), .oom_kills = 1, .saw_end_frame = true }, END_OOM_KILL },
	{ "exit status 9 (the number of SIGKILL) with oom_kills is no kill",
	  { EXIT(SIGKILL), .oom_kills = 1 }, END_CRASH },
	{ "SIGSEGV with oom_kills is a crash, not an OOM kill",
	  { SIGNAL(SIGSEGV), .oom_kills = 1 }, END_CRASH },

	/* the sandbox */
	{ "SIGSYS", { SIGNAL(SIGSYS) }, END_SANDBOX_VIOLATION },
	{ "SIGSYS after a fatal frame", { SIGNAL(SIGSYS), .fatal = "bad_document" },
	  END_SANDBOX_VIOLATION },
	{ "exit status 31 (the number of SIGSYS) is no violation", { EXIT(SIGSYS) }, END_CRASH },

	/* the document */
	{ "fatal bad_document, exit 65", { EXIT(65), .fatal = "bad_document" },
	  END_BAD_DOCUMENT },
	{ "fatal setup, exit 1", { EXIT(1), .fatal = "setup" }, END_CRASH },
	{ "fatal internal, exit 70", { EXIT(70), .fatal = "internal" }, END_CRASH },

	/* other crashes */
	{ "SIGSEGV", { SIGNAL(SIGSEGV) }, END_CRASH },
	{ "SIGABRT", { SIGNAL(SIGABRT) }, END_CRASH },

	/* the daemon's own decisions */
	{ "timed out (killed by the daemon)", { SIGNAL(SIGKILL), .timed_out = true },
	  END_TIMEOUT },
	{ "timed out although it then exited 0 with end frame",
	  { EXIT(0), .saw_end_frame = true, .timed_out = true }, END_TIMEOUT },
	{ "a page took too long (killed by the daemon)", { SIGNAL(SIGKILL), .page_timed_out = true },
	  END_PAGE_TIMEOUT },
	{ "the job's timeout beats the page's", { SIGNAL(SIGKILL), .timed_out = true,
	  .page_timed_out = true }, END_TIMEOUT },
	{ "a page timeout beats an OOM kill at the same moment",
	  { SIGNAL(SIGKILL), .oom_kills = 1, .page_timed_out = true }, END_PAGE_TIMEOUT },
	{ "stopped after a failed flush", { SIGNAL(SIGKILL), .flush_failed = true },
	  END_FLUSH_FAILED },
	{ "a failed flush that ended cleanly all the same",
	  { EXIT(0), .saw_end_frame = true, .flush_failed = true }, END_FLUSH_FAILED },
	{ "an OOM kill that took the sink with it is an OOM kill (retried)",
	  { SIGNAL(SIGKILL), .oom_kills = 1, .flush_failed = true }, END_OOM_KILL },
	{ "cancelled", { SIGNAL(SIGKILL), .cancelled = true }, END_CANCELLED },
	{ "cancelled beats OOM kill",
	  { SIGNAL(SIGKILL), .oom_kills = 3, .cancelled = true }, END_CANCELLED },
	{ "cancelled beats timeout",
	  { SIGNAL(SIGKILL), .timed_out = true, .cancelled = true }, END_CANCELLED },
	{ "cancelled beats a sandbox violation", { SIGNAL(SIGSYS), .cancelled = true },
	  END_CANCELLED },
	{ "cancelled beats bad_document",
	  { EXIT(65), .fatal = "bad_document", .cancelled = true }, END_CANCELLED },
	{ "cancelled beats a clean end",
	  { EXIT(0), .saw_end_frame = true, .cancelled = true }, END_CANCELLED },
};

static void test_classify(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(classify_cases); i++) {
		const struct classify_case *c = &classify_cases[i];
		enum job_end got = outcome_classify(&c->x);

		ok(got == c->want, "%s: %s (got %s)", c->what, job_end_to_string(c->want),
		   job_end_to_string(got) ? job_end_to_string(got) : "none");
	}
}

static const struct {
	enum job_end end;
	enum job_state state;
} end_states[] = {
	{ END_OK, JOB_DONE },
	{ END_OOM_KILL, JOB_OOM_KILLED },
	{ END_SANDBOX_VIOLATION, JOB_FAILED },
	{ END_CRASH, JOB_FAILED },
	{ END_TIMEOUT, JOB_FAILED },
	{ END_CANCELLED, JOB_CANCELLED },
	{ END_BAD_DOCUMENT, JOB_FAILED },
	{ END_INTERRUPTED, JOB_INTERRUPTED },
	{ END_FLUSH_FAILED, JOB_FAILED },
	{ END_PAGE_TIMEOUT, JOB_FAILED },
	{ END_GPU_MEMORY, JOB_FAILED },
};

static void test_state_for_end(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(end_states); i++)
		is_int(outcome_state(end_states[i].end), end_states[i].state,
		       "end %s -> state %s",
		       job_end_to_string(end_states[i].end), job_state_to_string(end_states[i].state));
}

/* The words of memsafed(8): states from the job lifecycle, end reasons from
 * step 6 (and summary.json's end_reason). */
static const struct {
	enum job_state s;
	const char *name;
} state_names[] = {
	{ JOB_SPOOLING, "spooling" },
	{ JOB_QUEUED, "queued" },
	{ JOB_RUNNING, "running" },
	{ JOB_DONE, "done" },
	{ JOB_FAILED, "failed" },
	{ JOB_OOM_KILLED, "oom_killed" },
	{ JOB_CANCELLED, "cancelled" },
	{ JOB_INTERRUPTED, "interrupted" },
};

static const struct {
	enum job_end e;
	const char *name;
} end_names[] = {
	{ END_OK, "ok" },
	{ END_OOM_KILL, "oom_kill" },
	{ END_SANDBOX_VIOLATION, "sandbox_violation" },
	{ END_CRASH, "crash" },
	{ END_TIMEOUT, "timeout" },
	{ END_CANCELLED, "cancelled" },
	{ END_BAD_DOCUMENT, "bad_document" },
	{ END_INTERRUPTED, "interrupted" },
	{ END_FLUSH_FAILED, "flush_failed" },
	{ END_PAGE_TIMEOUT, "page_timeout" },
	{ END_GPU_MEMORY, "gpu_memory" },
};

static void test_names(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(state_names); i++)
		is_str(job_state_to_string(state_names[i].s), state_names[i].name, "state %d is \"%s\"",
		       (int)state_names[i].s, state_names[i].name);
	for (size_t i = 0; i < ARRAY_SIZE(end_names); i++)
		is_str(job_end_to_string(end_names[i].e), end_names[i].name, "end %d is \"%s\"",
		       (int)end_names[i].e, end_names[i].name);
	ok(job_end_to_string(END_NONE) == NULL, "END_NONE has no name (null in JSON)");
	/* the tables above cover every value */
	is_int(ARRAY_SIZE(state_names), JOB_INTERRUPTED + 1, "every state is named");
	is_int(ARRAY_SIZE(end_names), _JOB_END_MAX - 1, "every end but END_NONE is named");
}

/* A batch that did not reach the sink makes an ok end flush_failed, and
 * only an ok end. */
static void test_after_flushes(void)
{
	is_int(outcome_after_flushes(END_OK, 0), END_OK, "ok with every batch flushed stays ok");
	is_int(outcome_after_flushes(END_OK, 1), END_FLUSH_FAILED, "ok with a failed flush is flush_failed");
	is_int(outcome_after_flushes(END_OOM_KILL, 3), END_OOM_KILL, "an OOM kill stays an OOM kill");
	is_int(outcome_after_flushes(END_CANCELLED, 3), END_CANCELLED, "a cancel stays a cancel");
}

/* Every name reads back as its value; unknown names are refused. */
static void test_tables(void)
{
	static const char *const kinds[] = { "ingest", "pressure" };
	static const char *const sinks[] = { "mock", "jsonl", "exec" };
	static const char *const batch[] = { "flushed", "failed", "killed" };

	for (int s = 0; s < _JOB_STATE_MAX; s++)
		is_int(job_state_from_string(job_state_to_string(s)), s, "state %s round-trips",
		       job_state_to_string(s));
	for (int e = END_OK; e < _JOB_END_MAX; e++)
		is_int(job_end_from_string(job_end_to_string(e)), e, "end %s round-trips",
		       job_end_to_string(e));
	for (int k = 0; k < _JOB_KIND_MAX; k++)
		is_str(job_kind_to_string(k), kinds[k], "kind %d is %s", k, kinds[k]);
	for (int k = 0; k < _SINK_KIND_MAX; k++) {
		is_str(sink_kind_to_string(k), sinks[k], "sink %d is %s", k, sinks[k]);
		is_int(sink_kind_from_string(sinks[k]), k, "sink %s reads back", sinks[k]);
	}
	for (int b = 0; b < _BATCH_STATUS_MAX; b++)
		is_int(batch_status_from_string(batch[b]), b, "batch status %s reads back", batch[b]);
	is_int(job_state_from_string("running "), -1, "a state with a trailing space is unknown");
	is_int(job_end_from_string(NULL), -1, "no end name is unknown");
	is_int(sink_kind_from_string("Exec"), -1, "sink names are case-sensitive");
	ok(job_state_to_string(_JOB_STATE_MAX) == NULL, "a state out of range has no name");
}

int main(void)
{
	test_classify();
	test_state_for_end();
	test_names();
	test_tables();
	test_after_flushes();
	return tap_done();
}
