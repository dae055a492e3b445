/* The worker's side of the frame protocol (see common/frame.h): every
 * message to the daemon goes through here, on fd 1. */
#ifndef MEMSAFE_EMIT_H
#define MEMSAFE_EMIT_H

#include <stdint.h>

#include "chunker.h"
#include "sandbox.h"
#include "util.h"

/* Exit statuses the daemon (and memsafe-worker(8)) know. */
#define WORKER_EXIT_OK 0
#define WORKER_EXIT_USAGE 64
#define WORKER_EXIT_BAD_DOCUMENT 65
#define WORKER_EXIT_INTERNAL 70
#define WORKER_EXIT_SETUP 71
#define WORKER_EXIT_IO 74

/* CLOCK_REALTIME ms when the worker started (set by main). */
extern uint64_t emit_start_ms;

int emit_doc(unsigned pages);
int emit_page(unsigned page, unsigned pages);
int emit_batch(const struct batch *b);
int emit_page_error(unsigned page, const char *msg);
int emit_pressure(const char *phase, uint64_t mb, uint64_t target_mb);
/* What the sandbox applied (--report-sandbox), the frame before all others:
 * {"t":"sandbox","user","namespaces":[...],"filesystem":"landlock"|
 * "empty_root","landlock_abi","readable":[...],
 * "capability_bounding_set_empty","seccomp"}. */
int emit_sandbox(const struct sandbox_report *r);
int emit_end(unsigned pages, uint64_t chunks, uint64_t batches);
/* Report a fatal error; returns the exit status to use. */
int emit_fatal(const char *reason, const char *fmt, ...) _printf_(2, 3);

#endif
