/* What every memsafectl command shares: the global options, the exit
 * statuses, one request to memsafed, reading replies and artifacts, and
 * printing JSON. Commands live in files named after them (submit.c,
 * plot.c, ...); memsafectl.c only dispatches. */
#ifndef MEMSAFE_CTL_H
#define MEMSAFE_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "util.h"

/* Exit statuses, stable and documented in memsafectl --help and
 * memsafectl(1). */
enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILED = 1,      /* what was checked does not hold: a job did not
				   * end done, an assertion or doctor check failed,
				   * memory was not given back */
	CTL_EXIT_USAGE = 2,       /* bad command line */
	CTL_EXIT_UNREACHABLE = 3, /* memsafed could not be reached */
	CTL_EXIT_REFUSED = 4,     /* memsafed answered with an error */
	CTL_EXIT_LOCAL = 5,       /* a local file or tool failed (unreadable
				   * artifact, unwritable output, tar) */
};

#define CTL_DEFAULT_SOCKET RUNSTATEDIR "/memsafed/memsafed.sock"

/* The artifact files of a job, in the order people read them. */
extern const char *const ctl_artifacts[];
#define CTL_N_ARTIFACTS 5

extern const char *ctl_socket; /* --socket, $MEMSAFE_SOCKET or the default */
extern bool ctl_json;          /* --json: one JSON document on stdout */
extern uint64_t ctl_reply_timeout_ms; /* --reply-timeout */

/* Usage error: print why and how to get help, exit CTL_EXIT_USAGE. */
_Noreturn void ctl_die_usage(const char *cmd, const char *fmt, ...) _printf_(2, 3);
/* After getopt complained about an option: point at --help, exit
 * CTL_EXIT_USAGE. argv0 is "memsafectl COMMAND". */
_Noreturn void ctl_bad_option(const char *argv0);
/* "memsafectl: ..." on stderr. */
void ctl_errorf(const char *fmt, ...) _printf_(1, 2);

/* One request; 0 with the reply (ok or not) in *ret, or a negative errno
 * with err saying why memsafed could not be asked and what to do. */
int ctl_request(const char *req, int fd, yajl_val *ret, char *err, size_t errsz);
/* Like ctl_request but exits CTL_EXIT_UNREACHABLE on a transport error. */
yajl_val ctl_call(const char *req, int fd);
/* {"v":1,"op":op} or with "id" when id != 0. */
void ctl_simple_request(char *buf, size_t size, const char *op, uint64_t id);
bool ctl_reply_ok(yajl_val v);
/* Print a daemon error reply for people (stderr; and as JSON on stdout
 * with --json); returns CTL_EXIT_REFUSED. */
int ctl_print_error(yajl_val v, const char *what);
/* The daemon error's stable code, or "" for a reply without one. */
const char *ctl_error_code(yajl_val v);

/* Typed reads that never fail: "-", 0, 0.0 when absent. */
const char *ctl_jstr(yajl_val obj, const char *key);
bool ctl_jhas_str(yajl_val obj, const char *key);
/* For people: s (or the string at key) with what a terminal would act on
 * escaped (str_escape in common/util.h); s itself when nothing needs it,
 * else a buffer valid until eight more calls. Every name, message or path
 * that came from the daemon, a document or a file system is printed
 * through these (ctl_errorf and ctl_die_usage escape their whole text). */
const char *ctl_text(const char *s);
const char *ctl_jtext(yajl_val obj, const char *key);
uint64_t ctl_juint(yajl_val obj, const char *key);
double ctl_jdouble(yajl_val obj, const char *key);
/* A value by dotted path ("batches.flushed"); NULL when absent. */
yajl_val ctl_jpath(yajl_val obj, const char *path);

/* True when the job (a job object) has reached a final state. */
bool ctl_job_ended(yajl_val job);

/* JSON output. */
yajl_gen ctl_gen_new(void);
void ctl_gen_value(yajl_gen g, yajl_val v);
/* Copy obj's members (not its braces) into an open map, skipping keys
 * listed in skip (NULL-terminated, may be NULL). */
void ctl_gen_members(yajl_gen g, yajl_val obj, const char *const *skip);
void ctl_gen_print(yajl_gen g);
void ctl_print_json(yajl_val v);

/* Command-line values; exit CTL_EXIT_USAGE naming the option when bad. */
uint64_t ctl_opt_num(const char *cmd, const char *opt, const char *s, bool zero_ok);
uint64_t ctl_opt_size(const char *cmd, const char *opt, const char *s);
uint64_t ctl_opt_duration(const char *cmd, const char *opt, const char *s);
double ctl_opt_double(const char *cmd, const char *opt, const char *s, double min, double max);
uint64_t ctl_parse_job_id(const char *cmd, const char *s);

/* Parse a JSON file into *ret (up to 16 MiB); err says why not. */
int ctl_load_json(const char *path, yajl_val *ret, char *err, size_t errsz);

/* Resolve a JOB argument: a job id (asked of memsafed, which must know
 * it) or the path of an artifact directory (one holding summary.json,
 * such as a repro output). Sets *ret_dir (malloc'd) and *ret_id (0 when
 * unknown); *ret_job gets the daemon's job object's reply when asked
 * (caller frees), else NULL. Exits with a message on failure. */
void ctl_job_ref(const char *cmd, const char *arg, char **ret_dir, uint64_t *ret_id,
		 yajl_val *ret_reply);

/* getopt_long over the options every read command has (--json, --help);
 * prints usage and exits on --help. Returns optind. */
int ctl_simple_opts(int argc, char **argv, const char *usage);

#endif
