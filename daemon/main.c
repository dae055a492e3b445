/* memsafed: supervise document ingestion workers under memory caps. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "cgroup.h"
#include "config.h"
#include "job.h"
#include "log.h"
#include "server.h"
#include "util.h"

struct daemon_opts {
	const char *config, *socket, *state_dir, *worker, *cgroup_root;
	bool check_config, debug;
};

static struct {
	struct event_base *base;
	struct config cfg;
	struct daemon_opts opts;
	struct server *srv;
	struct jobs *jobs;
} d;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: memsafed [OPTIONS]\n"
		"Supervise document ingestion workers, each in its own cgroup under a\n"
		"memory cap. Runs in the foreground; systemd starts it as memsafed.service.\n"
		"\n"
		"  -c, --config FILE      configuration file (default %s)\n"
		"  -s, --socket PATH      control socket (default from the configuration)\n"
		"  -d, --state-dir DIR    jobs, spool and knowledge bases (default from the configuration)\n"
		"      --worker PATH      the memsafe-worker binary\n"
		"      --cgroup-root DIR  cgroup filesystem root (default /sys/fs/cgroup)\n"
		"      --check-config     validate the configuration, print it and exit\n"
		"      --foreground       stay in the foreground (the default)\n"
		"      --debug            log debug messages\n"
		"  -h, --help             show this help\n"
		"  -V, --version          show the version\n"
		"\n"
		"Exit status: 0 on a clean stop, 1 when the configuration or the host\n"
		"cannot run jobs safely (the message says why), 2 on a usage error.\n"
		"See memsafed(8) and memsafed.conf(5).\n",
		CONFIG_PATH_DEFAULT);
}

static int parse_args(int argc, char **argv, struct daemon_opts *o)
{
	enum { OPT_WORKER = 256, OPT_CGROOT, OPT_CHECK, OPT_FG, OPT_DEBUG };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "worker", required_argument, NULL, OPT_WORKER },
		{ "cgroup-root", required_argument, NULL, OPT_CGROOT },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "foreground", no_argument, NULL, OPT_FG },
		{ "debug", no_argument, NULL, OPT_DEBUG },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:s:d:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 's': o->socket = optarg; break;
		case 'd': o->state_dir = optarg; break;
		case OPT_WORKER: o->worker = optarg; break;
		case OPT_CGROOT: o->cgroup_root = optarg; break;
		case OPT_CHECK: o->check_config = true; break;
		case OPT_FG: break;
		case OPT_DEBUG: o->debug = true; break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("memsafed %s\n", PACKAGE_VERSION); exit(0);
		default:
			fprintf(stderr, "Try 'memsafed --help'.\n");
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "memsafed: unexpected argument '%s'\nTry 'memsafed --help'.\n",
			argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static void replace_str(char **dst, const char *src)
{
	if (!src)
		return;
	free(*dst);
	*dst = strdup(src);
	if (!*dst)
		abort();
}

/* Load the configuration and lay the command line over it. */
static int load_config(struct config *ret, char **err)
{
	const struct daemon_opts *o = &d.opts;
	struct config cfg;
	int r;

	r = config_load(o->config ? o->config : CONFIG_PATH_DEFAULT, o->config != NULL,
			&cfg, err);
	if (r < 0)
		return r;
	replace_str(&cfg.socket_path, o->socket);
	replace_str(&cfg.state_dir, o->state_dir);
	replace_str(&cfg.worker_path, o->worker);
	*ret = cfg;
	return 0;
}

static void shutdown_cb(evutil_socket_t sig, short what, void *arg)
{
	log_msg(LOG_INFO, "received %s, stopping", sigabbrev_np((int)sig));
	sd_notify(0, "STOPPING=1");
	server_stop_accepting(d.srv);
	jobs_interrupt_all(d.jobs);
	event_base_loopbreak(d.base);
}

static void reload_cb(evutil_socket_t sig, short what, void *arg)
{
	struct config cfg;
	_cleanup_free_ char *err = NULL;

	sd_notify(0, "RELOADING=1");
	if (load_config(&cfg, &err) < 0) {
		log_msg(LOG_ERR, "reload failed, keeping the running configuration: %s",
			err ? err : "out of memory");
	} else {
		/* Paths the running daemon is built on cannot change live. */
		replace_str(&cfg.socket_path, d.cfg.socket_path);
		replace_str(&cfg.state_dir, d.cfg.state_dir);
		config_done(&d.cfg);
		d.cfg = cfg;
		log_msg(LOG_INFO, "configuration reloaded (profile %s)",
			config_profile_name(d.cfg.profile));
	}
	sd_notify(0, "READY=1");
}

int main(int argc, char **argv)
{
	_cleanup_free_ char *err = NULL, *self = NULL;
	struct event *ev_term, *ev_int, *ev_hup;
	struct cgroup_root *cg = NULL;
	char buf[4096];
	int r;

	if (parse_args(argc, argv, &d.opts) < 0)
		return 2;
	log_setup();
	if (d.opts.debug)
		log_set_max_level(LOG_DEBUG);
	if (load_config(&d.cfg, &err) < 0) {
		fprintf(stderr, "memsafed: %s\n", err ? err : "out of memory");
		return 1;
	}
	if (d.opts.check_config) {
		_cleanup_free_ char *dump = config_dump(&d.cfg);
		fputs(dump ? dump : "", stdout);
		config_done(&d.cfg);
		return 0;
	}

	signal(SIGPIPE, SIG_IGN);
	if (read_small_file("/proc/self/cgroup", buf, sizeof buf) < 0) {
		log_msg(LOG_ERR, "cannot read /proc/self/cgroup: is /proc mounted?");
		return 1;
	}
	r = cgroup_probe(d.opts.cgroup_root ? d.opts.cgroup_root : "/sys/fs/cgroup", buf,
			 &cg, &err);
	if (r == 0)
		r = cgroup_setup(cg, &err);
	if (r < 0) {
		log_msg(LOG_ERR, "refusing to start: %s", err ? err : strerror(-r));
		cgroup_root_free(cg);
		config_done(&d.cfg);
		return 1;
	}
	log_msg(LOG_INFO, "cgroup mode %s, jobs in %s", cgroup_mode_name(cgroup_mode(cg)),
		cgroup_jobs_path(cg));

	d.base = event_base_new();
	if (!d.base)
		return 1;
	if ((r = jobs_new(d.base, &d.cfg, cg, &d.jobs, &err)) < 0 ||
	    (r = server_new(d.base, d.jobs, &d.cfg, &d.srv, &err)) < 0) {
		log_msg(LOG_ERR, "refusing to start: %s", err ? err : strerror(-r));
		return 1;
	}
	ev_term = evsignal_new(d.base, SIGTERM, shutdown_cb, NULL);
	ev_int = evsignal_new(d.base, SIGINT, shutdown_cb, NULL);
	ev_hup = evsignal_new(d.base, SIGHUP, reload_cb, NULL);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	event_add(ev_hup, NULL);

	log_msg(LOG_INFO, "memsafed %s ready on %s%s (profile %s, state in %s)",
		PACKAGE_VERSION, d.cfg.socket_path,
		server_activated(d.srv) ? " (socket from systemd)" : "",
		config_profile_name(d.cfg.profile), d.cfg.state_dir);
	sd_notify(0, "READY=1");
	event_base_dispatch(d.base);

	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	d.srv = server_free(d.srv);
	d.jobs = jobs_free(d.jobs);
	event_base_free(d.base);
	cgroup_root_free(cg);
	config_done(&d.cfg);
	return 0;
}
