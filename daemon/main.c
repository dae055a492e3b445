/* memsafed: supervise document ingestion workers under memory caps. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cgroup.h"
#include "config.h"
#include "jobs.h"
#include "recover.h"
#include "log.h"
#include "notify.h"
#include "preflight.h"
#include "server.h"
#include "util.h"

/* After SIGTERM, running jobs get this long to end on their own; then they
 * are killed and recorded as interrupted. memsafed.service gives the whole
 * stop TimeoutStopSec=30s, so this must stay well below that. */
#define STOP_GRACE_MS 10000
/* How often the stopping daemon looks whether its jobs have ended. */
#define STOP_POLL_MS 100
/* How often STATUS= is refreshed under systemd for the memory pressure it
 * shows; job count changes are sent at once (jobs_set_changed_cb). */
#define STATUS_REFRESH_MS 5000

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
	struct event *ev_status, *ev_watchdog, *ev_stop;
	bool stopping;
	uint64_t stop_deadline_ms;  /* CLOCK_MONOTONIC */
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

static void status_cb(evutil_socket_t fd, short what, void *arg)
{
	notify_status(jobs_running(d.jobs), jobs_queued(d.jobs));
}

/* From the event loop, so a loop that hangs stops the pings and systemd
 * restarts the daemon (WatchdogSec=). */
static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	notify_watchdog();
}

/* Kill what still runs (recorded as interrupted) and leave the loop. */
static void stop_now(const char *why)
{
	unsigned n = jobs_running(d.jobs);

	if (n > 0)
		log_msg(LOG_WARNING, "%s: interrupting %u running job%s", why, n,
			n == 1 ? "" : "s");
	jobs_interrupt_all(d.jobs);
	event_base_loopbreak(d.base);
}

static void stop_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	notify_status(jobs_running(d.jobs), jobs_queued(d.jobs));
	if (jobs_running(d.jobs) == 0) {
		log_msg(LOG_INFO, "every running job has ended, exiting");
		event_base_loopbreak(d.base);
	} else if (now_mono_ms() >= d.stop_deadline_ms) {
		stop_now("the stop grace period is over");
	}
}

/* SIGTERM, SIGINT: stop accepting, let running jobs end within the grace
 * period, then kill them. A second signal stops at once. */
static void shutdown_cb(evutil_socket_t sig, short what, void *arg)
{
	struct timeval tv = { 0, STOP_POLL_MS * 1000 };
	unsigned n;

	if (d.stopping) {
		log_msg(LOG_INFO, "received SIG%s again", sigabbrev_np((int)sig));
		stop_now("stopping at once");
		return;
	}
	d.stopping = true;
	notify_stopping();
	server_stop_accepting(d.srv);
	jobs_drain(d.jobs);   /* queued jobs wait on disk for the next start */
	n = jobs_running(d.jobs);
	notify_status(n, jobs_queued(d.jobs));
	if (n == 0) {
		log_msg(LOG_INFO, "received SIG%s, stopping", sigabbrev_np((int)sig));
		event_base_loopbreak(d.base);
		return;
	}
	log_msg(LOG_INFO, "received SIG%s, stopping: no new connections; %u running job%s "
		"may end within %d s, then %s interrupted", sigabbrev_np((int)sig), n,
		n == 1 ? "" : "s", STOP_GRACE_MS / 1000, n == 1 ? "it is" : "they are");
	d.stop_deadline_ms = now_mono_ms() + STOP_GRACE_MS;
	d.ev_stop = event_new(d.base, -1, EV_PERSIST, stop_poll_cb, NULL);
	if (!d.ev_stop || event_add(d.ev_stop, &tv) < 0)
		stop_now("cannot wait for running jobs");
}

/* SIGHUP: reload the configuration; a bad file changes nothing. */
static void reload_cb(evutil_socket_t sig, short what, void *arg)
{
	struct config cfg;
	_cleanup_free_ char *err = NULL;
	int r;

	if (d.stopping)
		return;
	notify_reloading();
	if ((r = load_config(&cfg, &err)) == 0) {
		/* Paths the running daemon is built on cannot change live. */
		replace_str(&cfg.socket_path, d.cfg.socket_path);
		replace_str(&cfg.state_dir, d.cfg.state_dir);
		if ((r = preflight_check(&cfg, &err)) < 0)
			config_done(&cfg);
	}
	if (r < 0) {
		log_msg(LOG_ERR, "reload failed, keeping the running configuration: %s",
			err ? err : "out of memory");
	} else {
		config_done(&d.cfg);
		d.cfg = cfg;
		jobs_reconfigure(d.jobs);
		log_msg(LOG_INFO, "configuration reloaded (profile %s)",
			config_profile_name(d.cfg.profile));
	}
	notify_ready();
	notify_status(jobs_running(d.jobs), jobs_queued(d.jobs));
}

/* Timers that exist only under a service manager. */
static int notify_timers_new(void)
{
	struct timeval tv = { STATUS_REFRESH_MS / 1000, (STATUS_REFRESH_MS % 1000) * 1000 };
	uint64_t wd = notify_watchdog_usec();

	if (!notify_enabled())
		return 0;
	d.ev_status = event_new(d.base, -1, EV_PERSIST, status_cb, NULL);
	if (!d.ev_status || event_add(d.ev_status, &tv) < 0)
		return -ENOMEM;
	if (wd > 0) {
		/* Twice per interval, as sd_watchdog_enabled(3) advises. */
		tv.tv_sec = (time_t)(wd / 2 / 1000000);
		tv.tv_usec = (suseconds_t)(wd / 2 % 1000000);
		d.ev_watchdog = event_new(d.base, -1, EV_PERSIST, watchdog_cb, NULL);
		if (!d.ev_watchdog || event_add(d.ev_watchdog, &tv) < 0)
			return -ENOMEM;
		log_msg(LOG_INFO, "watchdog: pinging every %llu ms",
			(unsigned long long)(wd / 2 / 1000));
	}
	return 0;
}

static void event_freep(struct event **ev)
{
	if (*ev)
		event_free(*ev);
	*ev = NULL;
}

/* Serve until shutdown. Returns 0, or a negative errno when memsafed cannot
 * start (the log says why); everything it made is freed either way. */
static int serve(struct cgroup_root *cg)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct event *ev_sig[ARRAY_SIZE(sigs)] = { NULL };
	_cleanup_free_ char *err = NULL;
	int r = -ENOMEM;

	d.base = event_base_new();
	if (!d.base)
		goto fail;
	if ((r = jobs_new(d.base, &d.cfg, cg, &d.jobs, &err)) < 0)
		goto fail;
	recover_jobs(d.jobs);
	if ((r = server_new(d.base, d.jobs, &d.cfg, &d.srv, &err)) < 0)
		goto fail;
	jobs_set_changed_cb(d.jobs, notify_status);
	r = -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
		ev_sig[i] = evsignal_new(d.base, sigs[i],
					 sigs[i] == SIGHUP ? reload_cb : shutdown_cb, NULL);
		if (!ev_sig[i] || event_add(ev_sig[i], NULL) < 0)
			goto fail;
	}
	if (notify_timers_new() < 0)
		goto fail;

	log_msg(LOG_INFO, "memsafed %s ready on %s%s (profile %s, state in %s)",
		PACKAGE_VERSION, d.cfg.socket_path,
		server_activated(d.srv) ? " (socket from systemd)" : "",
		config_profile_name(d.cfg.profile), d.cfg.state_dir);
	notify_ready();
	notify_status(jobs_running(d.jobs), jobs_queued(d.jobs));
	event_base_dispatch(d.base);
	r = 0;
	goto out;
fail:
	log_msg(LOG_ERR, "refusing to start: %s", err ? err : strerror(-r));
out:
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		event_freep(&ev_sig[i]);
	event_freep(&d.ev_status);
	event_freep(&d.ev_watchdog);
	event_freep(&d.ev_stop);
	d.srv = server_free(d.srv);
	d.jobs = jobs_free(d.jobs);
	if (d.base)
		event_base_free(d.base);
	d.base = NULL;
	return r;
}

int main(int argc, char **argv)
{
	_cleanup_free_ char *err = NULL;
	struct cgroup_root *cg = NULL;
	char buf[4096];
	int r;

	if (parse_args(argc, argv, &d.opts) < 0)
		return 2;
	log_setup();
	notify_setup();
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
	if (preflight_check(&d.cfg, &err) < 0) {
		log_msg(LOG_ERR, "refusing to start: %s", err ? err : "out of memory");
		config_done(&d.cfg);
		return 1;
	}

	signal(SIGPIPE, SIG_IGN);
	if (read_small_file("/proc/self/cgroup", buf, sizeof buf) < 0) {
		log_msg(LOG_ERR, "cannot read /proc/self/cgroup: is /proc mounted?");
		config_done(&d.cfg);
		return 1;
	}
	r = cgroup_probe(d.opts.cgroup_root ? d.opts.cgroup_root : "/sys/fs/cgroup", buf,
			 &cg, &err);
	if (r == 0)
		r = cgroup_setup(cg, &err);
	if (r < 0) {
		log_msg(LOG_ERR, "refusing to start: %s", err ? err : strerror(-r));
	} else {
		log_msg(LOG_INFO, "cgroup mode %s, jobs in %s",
			cgroup_mode_name(cgroup_mode(cg)), cgroup_jobs_path(cg));
		r = serve(cg);
	}
	/* Removes this instance's job directory (hybrid), also after a failed
	 * start. */
	cgroup_root_free(cg);
	config_done(&d.cfg);
	return r < 0 ? 1 : 0;
}
