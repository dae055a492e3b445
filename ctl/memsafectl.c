/* memsafectl: submit documents to memsafed and follow their jobs; read,
 * check, plot and bundle their evidence; check the host. This file only
 * dispatches: each command lives in the file named after it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "bundle.h"
#include "check.h"
#include "ctl.h"
#include "doctor.h"
#include "jobs.h"
#include "logs.h"
#include "metrics.h"
#include "plot.h"
#include "pressure.h"
#include "repro.h"
#include "submit.h"
#include "watch.h"

struct cmd {
	const char *name, *args, *help;
	int (*run)(int argc, char **argv);
};

static const struct cmd cmds[] = {
	{ "submit", "FILE... [--wait]", "queue documents as jobs", submit_main },
	{ "status", "[JOB]", "show a job (or the daemon)", jobs_status_main },
	{ "list", "", "list jobs, and why waiting ones wait", jobs_list_main },
	{ "cancel", "JOB...", "stop jobs", jobs_cancel_main },
	{ "logs", "JOB [--cat NAME]", "a job's artifact files", logs_main },
	{ "watch", "JOB", "follow a job live until it ends", watch_main },
	{ "repro", "FILE [CAP]", "reproduce a document under a cap, explain", repro_main },
	{ "simulate-pressure", "--target-mb N", "allocate under a cap, verify it comes back",
	  pressure_main },
	{ "bundle", "[JOB...] -o F.tar.gz", "the bug-report archive", bundle_main },
	{ "check", "SUMMARY.json", "CI assertions on a job's summary", check_main },
	{ "plot", "JOB -o F.svg|png", "draw memory over time against the cap", plot_main },
	{ "doctor", "", "pre-flight checks of the host and daemon", doctor_main },
	{ "metrics", "", "Prometheus text exposition", metrics_main },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: memsafectl [--socket PATH] [--json] [--reply-timeout DUR] COMMAND [ARGS]\n"
		"Talk to memsafed, the memory-safe document ingestion daemon.\n\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		fprintf(f, "  %-18s %-21s %s\n", cmds[i].name, cmds[i].args, cmds[i].help);
	fprintf(f, "\nOptions:\n"
		"  -s, --socket PATH  memsafed's socket (default $MEMSAFE_SOCKET or\n"
		"                     %s)\n"
		"      --json         print one JSON document on stdout (every command;\n"
		"                     a job's id is under \"id\")\n"
		"      --reply-timeout DUR  how long to wait for each answer of memsafed\n"
		"                     (default 30s; a submit waits until its document\n"
		"                     is spooled)\n"
		"  -h, --help         this help; memsafectl COMMAND --help for a command's\n"
		"  -V, --version      the version\n"
		"\nExit status:\n"
		"  0  success\n"
		"  1  what was asked for does not hold: a waited-for job (submit --wait, watch,\n"
		"     repro, simulate-pressure) did not end done, memory was not given back,\n"
		"     a check assertion or a doctor check failed\n"
		"  2  usage error\n"
		"  3  memsafed could not be reached\n"
		"  4  memsafed refused the request (its message and stable code are printed)\n"
		"  5  a local file or tool failed: an unreadable artifact or summary, an\n"
		"     unwritable output, a file that cannot be opened, tar\n"
		"See memsafectl(1).\n", CTL_DEFAULT_SOCKET);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "reply-timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	static char argv0[64];
	int c;

	setlocale(LC_CTYPE, "");
	ctl_socket = getenv("MEMSAFE_SOCKET");
	if (!ctl_socket || !*ctl_socket)
		ctl_socket = CTL_DEFAULT_SOCKET;
	/* Global options stop at the command name ("+"). */
	while ((c = getopt_long(argc, argv, "+s:hV", lo, NULL)) != -1) {
		switch (c) {
		case 's': ctl_socket = optarg; break;
		case 'j': ctl_json = true; break;
		case 't': ctl_reply_timeout_ms = ctl_opt_duration(NULL, "--reply-timeout", optarg); break;
		case 'h': usage(stdout); return CTL_EXIT_OK;
		case 'V': printf("memsafectl %s\n", PACKAGE_VERSION); return CTL_EXIT_OK;
		default: usage(stderr); return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		if (strcmp(argv[optind], cmds[i].name) == 0) {
			argv += optind;
			argc -= optind;
			/* getopt names the command in its complaints. */
			snprintf(argv0, sizeof argv0, "memsafectl %s", cmds[i].name);
			argv[0] = argv0;
			optind = 0; /* re-initialise getopt: permute again */
			return cmds[i].run(argc, argv);
		}
	}
	ctl_die_usage(NULL, "unknown command '%s'", argv[optind]);
}
