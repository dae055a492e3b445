/* memsafectl doctor: pre-flight checks of the host and of memsafed, one
 * verdict per line with what to do. */
#ifndef MEMSAFE_CTL_DOCTOR_H
#define MEMSAFE_CTL_DOCTOR_H

#include <stdint.h>
#include <stdio.h>
#include <yajl/yajl_gen.h>

enum doctor_verdict { DOCTOR_OK, DOCTOR_WARN, DOCTOR_FAIL };

struct doctor_check {
	const char *name;           /* stable, for programs: "cgroup_mode", ... */
	const char *title;          /* for people */
	enum doctor_verdict verdict;
	char detail[768];
	char fix[512];              /* "" when nothing to do */
};

struct doctor_opts {
	const char *config;         /* NULL: the running daemon's, or the default */
	const char *worker_user;    /* NULL: from the configuration */
	const char *worker;         /* NULL: the daemon's --worker, or the configuration's */
	uint64_t memory_max, reserve; /* 0: from the configuration */
};

#define DOCTOR_MAX_CHECKS 24
#define DOCTOR_MAX_CHECKLIST 8
struct doctor_report {
	struct doctor_check checks[DOCTOR_MAX_CHECKS];
	size_t n;
	char checklist[DOCTOR_MAX_CHECKLIST][256];
	size_t nchecklist;
	int failed, warned;
};

int doctor_main(int argc, char **argv);
void doctor_run(const struct doctor_opts *o, struct doctor_report *ret);
void doctor_print(const struct doctor_report *rep, FILE *f);
void doctor_json(const struct doctor_report *rep, yajl_gen g);

#endif
