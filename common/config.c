/* memsafed.conf: defaults, profiles, the key table, drop-ins and validation. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "config.h"
#include "protocol.h"
#include "size.h"
#include "util.h"

/* After util.h: glib #undefs and redefines MIN and MAX, not the other way. */
#include <glib.h>

/* The name of the drop-in directory, next to the main file. */
#define DROPIN_DIR "memsafed.conf.d"
/* A configuration file larger than this is a mistake, not a configuration. */
#define CONFIG_FILE_MAX (1024 * 1024)

/* How a key's value is written and stored. */
enum key_type {
	T_PROFILE,   /* enum config_profile */
	T_POLICY,    /* enum pressure_policy */
	T_PATH,      /* char *, absolute path */
	T_SOCKET,    /* char *, absolute path short enough for sun_path */
	T_NAME,      /* char *, user or group name */
	T_SINK,      /* char *, mock | jsonl | exec */
	T_KB,        /* char *, knowledge base name */
	T_COMMAND,   /* char *, non-empty, may be unset (NULL) */
	T_SIZE,      /* uint64_t bytes */
	T_SIZE_UINT, /* unsigned bytes */
	T_UINT,      /* unsigned count */
	T_MS,        /* uint64_t ms, written as a duration ("200ms") */
	T_MS_PLAIN,  /* uint64_t ms, written as a bare number (keys named *_ms) */
	T_US,        /* uint64_t µs, written as a duration in ms */
	T_DOUBLE,    /* double, 0 < v <= dmax */
};

enum key_id {
	K_PROFILE,
	K_SOCKET,
	K_STATE_DIR,
	K_WORKER,
	K_WORKER_USER,
	K_ADMIN_GROUP,
	K_SOCKET_GROUP,
	K_SAMPLE_INTERVAL,
	K_MEMORY_WARN,

	K_MAX_FILE_SIZE,
	K_MAX_CONCURRENT,
	K_RESERVE,
	K_MEMORY_MAX_CEILING,
	K_MAX_BATCH_SIZE_CEILING,
	K_MAX_QUEUED_PER_USER,
	K_MAX_RUNNING_PER_USER,
	K_MAX_CONNECTIONS,
	K_MAX_CONNECTIONS_PER_USER,
	K_MAX_BYTES_CEILING,
	K_MAX_SPOOL,
	K_MAX_SPOOL_PER_USER,
	K_GPU_MEMORY_MAX_CEILING,

	K_MEMORY_MAX,
	K_MEMORY_HIGH_RATIO,
	K_SWAP_MAX,
	K_PIDS_MAX,
	K_BATCH_SIZE,
	K_MAX_BYTES,
	K_MAX_WAIT_MS,
	K_CHUNK_SIZE,
	K_CHUNK_OVERLAP,
	K_TIMEOUT,
	K_PAGE_TIMEOUT,
	K_RETRIES,
	K_SINK,
	K_KB,
	K_GPU_MEMORY_MAX,

	K_STREAM_CHUNK_SIZE,
	K_STREAM_BUFFER_SIZE,

	K_POLICY,
	K_ADMISSION_PSI_MAX,
	K_PSI_THRESHOLD,
	K_PSI_WINDOW,
	K_HOLD_TIME,

	K_EXEC_COMMAND,
	K_EXEC_TIMEOUT,

	K_COUNT
};

struct key_def {
	const char *group;
	const char *key;
	enum key_type type;
	size_t offset;
	/* Inclusive bounds on the value as written: bytes, ms or a count.
	 * For T_DOUBLE only dmax is used (and the value must be > 0). */
	uint64_t min, max;
	double dmax;
	bool preset; /* also set by the profile preset */
};

#define KB_ ((uint64_t)1 << 10)
#define MB_ ((uint64_t)1 << 20)
#define GB_ ((uint64_t)1 << 30)

#define KEY(id, grp, name, typ, field, lo, hi) \
	[id] = { grp, name, typ, offsetof(struct config, field), lo, hi, 0, false }
#define PKEY(id, grp, name, typ, field, lo, hi) \
	[id] = { grp, name, typ, offsetof(struct config, field), lo, hi, 0, true }
#define DKEY(id, grp, name, field, hi) \
	[id] = { grp, name, T_DOUBLE, offsetof(struct config, field), 0, 0, hi, false }

/* Keys of the same group are adjacent: config_dump relies on it. */
static const struct key_def keys[K_COUNT] = {
	KEY(K_PROFILE, "daemon", "profile", T_PROFILE, profile, 0, UINT64_MAX),
	KEY(K_SOCKET, "daemon", "socket", T_SOCKET, socket_path, 0, UINT64_MAX),
	KEY(K_STATE_DIR, "daemon", "state_dir", T_PATH, state_dir, 0, UINT64_MAX),
	KEY(K_WORKER, "daemon", "worker", T_PATH, worker_path, 0, UINT64_MAX),
	KEY(K_WORKER_USER, "daemon", "worker_user", T_NAME, worker_user, 0, UINT64_MAX),
	KEY(K_ADMIN_GROUP, "daemon", "admin_group", T_NAME, admin_group, 0, UINT64_MAX),
	KEY(K_SOCKET_GROUP, "daemon", "socket_group", T_NAME, socket_group, 0, UINT64_MAX),
	KEY(K_SAMPLE_INTERVAL, "daemon", "sample_interval", T_MS, sample_interval_ms, 20, 60 * 1000),
	KEY(K_MEMORY_WARN, "daemon", "memory_warn", T_SIZE, memory_warn, 0, UINT64_MAX),

	PKEY(K_MAX_FILE_SIZE, "limits", "max_file_size", T_SIZE, max_file_size, 1, UINT64_MAX),
	PKEY(K_MAX_CONCURRENT, "limits", "max_concurrent", T_UINT, max_concurrent, 1, 64),
	KEY(K_RESERVE, "limits", "reserve", T_SIZE, reserve, 0, UINT64_MAX),
	KEY(K_MEMORY_MAX_CEILING, "limits", "memory_max_ceiling", T_SIZE, memory_max_ceiling, 4 * MB_, UINT64_MAX),
	KEY(K_MAX_BATCH_SIZE_CEILING, "limits", "max_batch_size_ceiling", T_UINT, max_batch_size_ceiling, 1, 100000),
	KEY(K_MAX_QUEUED_PER_USER, "limits", "max_queued_per_user", T_UINT, max_queued_per_user, 1, 100000),
	KEY(K_MAX_RUNNING_PER_USER, "limits", "max_running_per_user", T_UINT, max_running_per_user, 1, 64),
	KEY(K_MAX_CONNECTIONS, "limits", "max_connections", T_UINT, max_connections, 1, 65536),
	KEY(K_MAX_CONNECTIONS_PER_USER, "limits", "max_connections_per_user", T_UINT, max_connections_per_user, 1, 65536),
	/* The daemon buffers a worker's batch frame outside every job
	 * cgroup: up to 6 times max_bytes (JSON escapes), so the ceiling is
	 * bounded here. */
	KEY(K_MAX_BYTES_CEILING, "limits", "max_bytes_ceiling", T_SIZE, max_bytes_ceiling, 1024, 64 * MB_),
	KEY(K_MAX_SPOOL, "limits", "max_spool", T_SIZE, max_spool, MB_, UINT64_MAX),
	KEY(K_MAX_SPOOL_PER_USER, "limits", "max_spool_per_user", T_SIZE, max_spool_per_user, MB_, UINT64_MAX),
	/* 0: no ceiling on gpu_memory_max. */
	KEY(K_GPU_MEMORY_MAX_CEILING, "limits", "gpu_memory_max_ceiling", T_SIZE, gpu_memory_max_ceiling, 0, UINT64_MAX),

	KEY(K_MEMORY_MAX, "job", "memory_max", T_SIZE, memory_max, 4 * MB_, UINT64_MAX),
	DKEY(K_MEMORY_HIGH_RATIO, "job", "memory_high_ratio", memory_high_ratio, 1.0),
	KEY(K_SWAP_MAX, "job", "swap_max", T_SIZE, swap_max, 0, UINT64_MAX),
	/* PID_MAX_LIMIT on 64-bit kernels. */
	KEY(K_PIDS_MAX, "job", "pids_max", T_UINT, pids_max, 1, 4194304),
	PKEY(K_BATCH_SIZE, "job", "batch_size", T_UINT, batch_size, 1, 100000),
	KEY(K_MAX_BYTES, "job", "max_bytes", T_SIZE, max_bytes, 1024, UINT32_MAX),
	KEY(K_MAX_WAIT_MS, "job", "max_wait_ms", T_MS_PLAIN, max_wait_ms, 0, UINT64_MAX),
	KEY(K_CHUNK_SIZE, "job", "chunk_size", T_SIZE_UINT, chunk_size, 64, MB_),
	KEY(K_CHUNK_OVERLAP, "job", "chunk_overlap", T_SIZE_UINT, chunk_overlap, 0, MB_),
	KEY(K_TIMEOUT, "job", "timeout", T_MS, timeout_ms, 0, UINT64_MAX),
	KEY(K_PAGE_TIMEOUT, "job", "page_timeout", T_MS, page_timeout_ms, 0, UINT64_MAX),
	KEY(K_RETRIES, "job", "retries", T_UINT, retries, 0, 10),
	KEY(K_SINK, "job", "sink", T_SINK, sink, 0, UINT64_MAX),
	KEY(K_KB, "job", "kb", T_KB, kb, 0, UINT64_MAX),
	/* Device memory (VRAM) a job may hold; 0: no limit of its own. */
	KEY(K_GPU_MEMORY_MAX, "job", "gpu_memory_max", T_SIZE, gpu_memory_max, 0, UINT64_MAX),

	PKEY(K_STREAM_CHUNK_SIZE, "stream", "stream_chunk_size", T_SIZE, stream_chunk_size, 4 * KB_, 16 * MB_),
	KEY(K_STREAM_BUFFER_SIZE, "stream", "stream_buffer_size", T_SIZE, stream_buffer_size, 4 * KB_, 16 * MB_),

	KEY(K_POLICY, "pressure", "policy", T_POLICY, pressure_policy, 0, UINT64_MAX),
	DKEY(K_ADMISSION_PSI_MAX, "pressure", "admission_psi_max", admission_psi_max, 100.0),
	/* The kernel takes PSI trigger windows of 500ms to 10s and a stall
	 * threshold of at most the window (kernel/sched/psi.c). */
	KEY(K_PSI_THRESHOLD, "pressure", "psi_threshold", T_US, psi_threshold_us, 1, 10 * 1000),
	KEY(K_PSI_WINDOW, "pressure", "psi_window", T_US, psi_window_us, 500, 10 * 1000),
	KEY(K_HOLD_TIME, "pressure", "hold_time", T_MS, pressure_hold_ms, 0, UINT64_MAX),

	KEY(K_EXEC_COMMAND, "sink.exec", "command", T_COMMAND, exec_command, 0, UINT64_MAX),
	KEY(K_EXEC_TIMEOUT, "sink.exec", "timeout", T_MS, exec_timeout_ms, 0, UINT64_MAX),
};

static const char *const groups[] = { "daemon", "limits", "job", "stream", "pressure", "sink.exec" };

static const char *const profile_names[] = {
	[PROFILE_SAFETY] = "safety",
	[PROFILE_BALANCED] = "balanced",
	[PROFILE_SPEED] = "speed",
};

static const char *const policy_names[] = {
	[POLICY_NONE] = "none",
	[POLICY_PAUSE] = "pause",
	[POLICY_KILL] = "kill",
};

static const char *const sink_names[] = { "mock", "jsonl", "exec" };

/* The profile presets (memsafed.conf(5), "profile"). */
static const struct preset {
	uint64_t max_file_size;
	uint64_t stream_chunk_size;
	unsigned batch_size;
	unsigned max_concurrent;
} presets[] = {
	[PROFILE_SAFETY] = { 25 * MB_, 128 * KB_, 10, 1 },
	[PROFILE_BALANCED] = { 50 * MB_, 256 * KB_, 20, 2 },
	[PROFILE_SPEED] = { 100 * MB_, 1 * MB_, 50, 5 },
};

const char *config_profile_name(enum config_profile p)
{
	if ((unsigned)p >= ARRAY_SIZE(profile_names))
		return "unknown";
	return profile_names[p];
}

const char *pressure_policy_name(enum pressure_policy p)
{
	if ((unsigned)p >= ARRAY_SIZE(policy_names))
		return "unknown";
	return policy_names[p];
}

static int lookup_name(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

/* config_init cannot report failure; a daemon that cannot copy a few
 * default strings at startup has nothing sensible left to do. */
static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		abort();
	return p;
}

static void apply_preset(struct config *cfg)
{
	const struct preset *p = &presets[cfg->profile];

	cfg->max_file_size = p->max_file_size;
	cfg->stream_chunk_size = p->stream_chunk_size;
	cfg->batch_size = p->batch_size;
	cfg->max_concurrent = p->max_concurrent;
}

void config_init(struct config *cfg)
{
	*cfg = (struct config){
		.profile = PROFILE_BALANCED,
		.socket_path = xstrdup(RUNSTATEDIR "/memsafed/memsafed.sock"),
		.state_dir = xstrdup(LOCALSTATEDIR "/lib/memsafed"),
		.worker_path = xstrdup(LIBEXECDIR "/memsafe-worker"),
		.worker_user = xstrdup("memsafe-worker"),
		.admin_group = xstrdup("memsafe-admin"),
		.socket_group = xstrdup("memsafe"),
		.sample_interval_ms = 200,
		.memory_warn = 500 * MB_,

		.max_file_size = 50 * MB_,
		.max_concurrent = 2,
		.reserve = 1 * GB_,
		.memory_max_ceiling = 16 * GB_,
		.max_batch_size_ceiling = 500,
		.max_queued_per_user = 64,
		.max_running_per_user = 1,
		.max_connections = 128,
		.max_connections_per_user = 16,
		.max_bytes_ceiling = 16 * MB_,
		.max_spool = 8 * GB_,
		.max_spool_per_user = 2 * GB_,

		.memory_max = 6 * GB_,
		.memory_high_ratio = 0.9,
		.swap_max = 0,
		.pids_max = 64,
		.batch_size = 10, /* the toolkit's; the balanced preset makes it 20 */
		.max_bytes = 5000000,
		.max_wait_ms = 5000,
		.chunk_size = 1000,
		.chunk_overlap = 100,
		.timeout_ms = 0,
		.page_timeout_ms = 5 * 60 * 1000,
		.retries = 2,
		.sink = xstrdup("jsonl"),
		.kb = xstrdup("default"),

		.stream_chunk_size = 256 * KB_,
		.stream_buffer_size = 64 * KB_,

		.pressure_policy = POLICY_PAUSE,
		.admission_psi_max = 10.0,
		.psi_threshold_us = 150 * 1000,
		.psi_window_us = 2 * 1000 * 1000,
		.pressure_hold_ms = 5000,

		.exec_command = NULL,
		.exec_timeout_ms = 30 * 1000,
	};
	apply_preset(cfg);
}

static bool is_string_type(enum key_type t)
{
	return t == T_PATH || t == T_SOCKET || t == T_NAME || t == T_SINK ||
	       t == T_KB || t == T_COMMAND;
}

int config_copy(struct config *dst, const struct config *src)
{
	*dst = *src;
	for (size_t k = 0; k < K_COUNT; k++)
		if (is_string_type(keys[k].type)) {
			char **p = (char **)((char *)dst + keys[k].offset);
			if (*p && !(*p = strdup(*p))) {
				/* Free what was copied; the rest is src's. */
				for (size_t j = 0; j < k; j++)
					if (is_string_type(keys[j].type))
						free(*(char **)((char *)dst + keys[j].offset));
				return -ENOMEM;
			}
		}
	return 0;
}

void config_done(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t k = 0; k < K_COUNT; k++)
		if (is_string_type(keys[k].type)) {
			char **p = (char **)((char *)cfg + keys[k].offset);
			free(*p);
			*p = NULL;
		}
}

/* --- formatting ----------------------------------------------------------- */

/* The shortest exact duration string: "200ms", "5s", "2m", "1h", "0". */
static void format_duration(uint64_t ms, char *buf, size_t size)
{
	static const struct {
		const char *suffix;
		uint64_t factor;
	} units[] = { { "h", 3600000 }, { "m", 60000 }, { "s", 1000 } };

	if (ms != 0)
		for (size_t i = 0; i < ARRAY_SIZE(units); i++)
			if (ms % units[i].factor == 0) {
				snprintf(buf, size, "%llu%s",
					 (unsigned long long)(ms / units[i].factor),
					 units[i].suffix);
				return;
			}
	if (ms == 0)
		snprintf(buf, size, "0");
	else
		snprintf(buf, size, "%llums", (unsigned long long)ms);
}

/* The shortest decimal that reads back as exactly v, locale-independent. */
static void format_double(double v, char *buf, size_t size)
{
	g_ascii_formatd(buf, (gint)size, "%.15g", v);
	if (g_ascii_strtod(buf, NULL) != v)
		g_ascii_dtostr(buf, (gint)size, v);
}

/* Format a numeric value (as written, so ms for T_US) for messages. */
static void format_number(enum key_type t, uint64_t v, char *buf, size_t size)
{
	switch (t) {
	case T_SIZE:
	case T_SIZE_UINT:
		format_size(v, buf, size);
		break;
	case T_MS:
	case T_MS_PLAIN:
	case T_US:
		format_duration(v, buf, size);
		break;
	default:
		snprintf(buf, size, "%llu", (unsigned long long)v);
		break;
	}
}

/* Append s as a GKeyFile string value: the escapes of
 * g_key_file_get_string(), and \s for spaces it would otherwise trim. */
static void append_escaped(GString *out, const char *s)
{
	size_t len = strlen(s);

	for (size_t i = 0; i < len; i++) {
		switch (s[i]) {
		case '\\': g_string_append(out, "\\\\"); break;
		case '\n': g_string_append(out, "\\n"); break;
		case '\t': g_string_append(out, "\\t"); break;
		case '\r': g_string_append(out, "\\r"); break;
		case ' ':
			if (i == 0 || i == len - 1)
				g_string_append(out, "\\s");
			else
				g_string_append_c(out, ' ');
			break;
		default: g_string_append_c(out, s[i]); break;
		}
	}
}

/* Append "key = value\n" for key k of cfg. */
static void append_key(GString *out, const struct config *cfg, int k)
{
	const struct key_def *d = &keys[k];
	const void *field = (const char *)cfg + d->offset;
	char buf[64];

	switch (d->type) {
	case T_PROFILE:
		g_string_append_printf(out, "%s = %s\n", d->key,
				       config_profile_name(*(const enum config_profile *)field));
		return;
	case T_POLICY:
		g_string_append_printf(out, "%s = %s\n", d->key,
				       pressure_policy_name(*(const enum pressure_policy *)field));
		return;
	case T_PATH:
	case T_SOCKET:
	case T_NAME:
	case T_SINK:
	case T_KB:
	case T_COMMAND: {
		const char *s = *(char *const *)field;
		if (!s) {
			g_string_append_printf(out, "#%s =\n", d->key);
			return;
		}
		g_string_append_printf(out, "%s = ", d->key);
		append_escaped(out, s);
		g_string_append_c(out, '\n');
		return;
	}
	case T_SIZE:
		format_size(*(const uint64_t *)field, buf, sizeof buf);
		break;
	case T_SIZE_UINT:
		format_size(*(const unsigned *)field, buf, sizeof buf);
		break;
	case T_UINT:
		snprintf(buf, sizeof buf, "%u", *(const unsigned *)field);
		break;
	case T_MS:
		format_duration(*(const uint64_t *)field, buf, sizeof buf);
		break;
	case T_MS_PLAIN:
		snprintf(buf, sizeof buf, "%llu", (unsigned long long)*(const uint64_t *)field);
		break;
	case T_US:
		/* Values read from a file are whole milliseconds. */
		format_duration(*(const uint64_t *)field / 1000, buf, sizeof buf);
		break;
	case T_DOUBLE:
		format_double(*(const double *)field, buf, sizeof buf);
		break;
	}
	g_string_append_printf(out, "%s = %s\n", d->key, buf);
}

char *config_dump(const struct config *cfg)
{
	GString *out = g_string_new("# memsafed: effective configuration\n");
	const char *group = NULL;
	char *ret;

	g_string_append_printf(out, "# profile %s; every key is listed with its value\n",
			       config_profile_name(cfg->profile));
	for (int k = 0; k < K_COUNT; k++) {
		if (!group || strcmp(group, keys[k].group) != 0) {
			group = keys[k].group;
			g_string_append_printf(out, "\n[%s]\n", group);
		}
		append_key(out, cfg, k);
	}
	ret = strdup(out->str);
	g_string_free(out, TRUE);
	return ret;
}

/* --- finding lines -------------------------------------------------------- */

/* GKeyFile does not say on which line a value stood, so we find it
 * ourselves by splitting the text the way g_key_file_parse_line() does. */
enum line_kind { LINE_BLANK, LINE_GROUP, LINE_KEY, LINE_BAD };

struct scan {
	const char *p;       /* start of the next line, NULL at the end */
	unsigned lineno;     /* of the line last returned */
	const char *group;   /* current group name, not terminated */
	size_t group_len;
	bool in_group;
	/* The line last returned: group or key name, not terminated. */
	enum line_kind kind;
	const char *name;
	size_t name_len;
};

static bool scan_next(struct scan *sc)
{
	const char *s = sc->p, *nl, *eq, *close;
	size_t n;

	if (!s || !*s)
		return false;
	nl = strchr(s, '\n');
	n = nl ? (size_t)(nl - s) : strlen(s);
	sc->p = nl ? nl + 1 : NULL;
	sc->lineno++;

	if (n > 0 && s[n - 1] == '\r')
		n--;
	while (n > 0 && g_ascii_isspace(*s))
		s++, n--;
	sc->name = NULL;
	sc->name_len = 0;
	if (n == 0 || *s == '#') {
		sc->kind = LINE_BLANK;
	} else if (*s == '[') {
		close = memchr(s, ']', n);
		sc->kind = LINE_BAD;
		if (close) {
			const char *e = close + 1;
			while (e < s + n && (*e == ' ' || *e == '\t'))
				e++;
			if (e == s + n) {
				sc->kind = LINE_GROUP;
				sc->name = s + 1;
				sc->name_len = (size_t)(close - s - 1);
				sc->group = sc->name;
				sc->group_len = sc->name_len;
				sc->in_group = true;
			}
		}
	} else if ((eq = memchr(s, '=', n)) && eq != s && sc->in_group) {
		size_t len = (size_t)(eq - s);
		while (len > 0 && g_ascii_isspace(s[len - 1]))
			len--;
		sc->kind = LINE_KEY;
		sc->name = s;
		sc->name_len = len;
	} else {
		sc->kind = LINE_BAD;
	}
	return true;
}

static bool span_eq(const char *p, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(p, s, n) == 0;
}

/* The last line setting key in (any section named) group, 0 if none;
 * with key NULL, the first line opening group. */
static unsigned find_line(const char *text, const char *group, const char *key)
{
	struct scan sc = { .p = text };
	unsigned line = 0;

	while (scan_next(&sc)) {
		if (!key && sc.kind == LINE_GROUP && span_eq(sc.name, sc.name_len, group))
			return sc.lineno;
		if (key && sc.kind == LINE_KEY && span_eq(sc.group, sc.group_len, group) &&
		    span_eq(sc.name, sc.name_len, key))
			line = sc.lineno;
	}
	return line;
}

/* The first line GKeyFile would refuse, 0 if we cannot tell. */
static unsigned find_bad_line(const char *text)
{
	struct scan sc = { .p = text };

	while (scan_next(&sc))
		if (sc.kind == LINE_BAD)
			return sc.lineno;
	return 0;
}

/* --- loading -------------------------------------------------------------- */

struct source {
	char *path;
	char *text;
};

struct loader {
	struct source *src;
	size_t nsrc;
	/* Every key set in some file, parsed; strings owned. */
	struct config stage;
	bool set[K_COUNT];
	size_t from[K_COUNT]; /* index into src of the file that set it last */
	char *raw[K_COUNT];   /* the value as written there */
	char **err;
};

_printf_(2, 3) static void set_err(char **err, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (!err)
		return;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	*err = msg;
}

/* Report a bad value of key k, set in l->src[si]: "file:line: [group] key =
 * "value": what". Returns -EINVAL. */
_printf_(4, 5) static int key_error(struct loader *l, size_t si, int k, const char *fmt, ...)
{
	const struct source *s = &l->src[si];
	unsigned line = find_line(s->text, keys[k].group, keys[k].key);
	const char *raw = l->raw[k] ? l->raw[k] : "";
	g_autofree char *escaped = NULL;
	va_list ap;
	char *msg;
	char where[32] = "";

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (line)
		snprintf(where, sizeof where, "%u:", line);
	/* Keep the message printable whatever bytes the file holds. */
	if (!g_utf8_validate(raw, -1, NULL))
		raw = escaped = g_strescape(raw, NULL);
	set_err(l->err, "%s:%s [%s] %s = \"%s\": %s", s->path, where, keys[k].group,
		keys[k].key, raw, msg ? msg : "invalid value");
	free(msg);
	return -EINVAL;
}

static int oom(struct loader *l)
{
	set_err(l->err, "out of memory while reading the configuration");
	return -ENOMEM;
}

/* Read a whole configuration file as a NUL-terminated string. */
static int read_text(const char *path, char **ret)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			char *p;
			cap = cap ? cap * 2 : 8192;
			p = realloc(buf, cap + 1);
			if (!p)
				return -ENOMEM;
			buf = p;
		}
		n = read_full(fd, buf + len, cap - len);
		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CONFIG_FILE_MAX)
			return -EFBIG;
	}
	buf[len] = '\0';
	if (strlen(buf) != len)
		return -EBADMSG;
	*ret = steal_pointer(&buf);
	return 0;
}

static int add_source(struct loader *l, const char *path, char *text)
{
	struct source *p = realloc(l->src, (l->nsrc + 1) * sizeof *p);
	char *copy = strdup(path);

	if (!p || !copy) {
		if (p)
			l->src = p;
		free(copy);
		free(text);
		return oom(l);
	}
	l->src = p;
	l->src[l->nsrc++] = (struct source){ .path = copy, .text = text };
	return 0;
}

static int read_error(struct loader *l, const char *path, int r)
{
	switch (r) {
	case -ENOMEM:
		return oom(l);
	case -EFBIG:
		set_err(l->err, "%s: larger than %d bytes, not a configuration file",
			path, CONFIG_FILE_MAX);
		break;
	case -EBADMSG:
		set_err(l->err, "%s: contains a NUL byte, not a configuration file", path);
		break;
	default:
		set_err(l->err, "%s: cannot read: %s", path, strerror(-r));
		break;
	}
	return r;
}

/* Optimal string alignment distance, for "did you mean". */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[33][33];

	if (la > 32 || lb > 32)
		return SIZE_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t v = MIN(d[i - 1][j] + 1, d[i][j - 1] + 1);
			v = MIN(v, d[i - 1][j - 1] + cost);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
				v = MIN(v, d[i - 2][j - 2] + 1);
			d[i][j] = v;
		}
	return d[la][lb];
}

static int find_key(const char *group, const char *key)
{
	for (int k = 0; k < K_COUNT; k++)
		if (strcmp(keys[k].group, group) == 0 && strcmp(keys[k].key, key) == 0)
			return k;
	return -1;
}

static int unknown_key(struct loader *l, size_t si, const char *group, const char *key)
{
	const struct source *s = &l->src[si];
	unsigned line = find_line(s->text, group, key);
	const char *best = NULL, *elsewhere = NULL;
	size_t best_d = 3; /* suggest only close misspellings */
	char where[32] = "";
	GString *known = g_string_new(NULL);

	for (int k = 0; k < K_COUNT; k++) {
		if (strcmp(keys[k].key, key) == 0 && !elsewhere)
			elsewhere = keys[k].group;
		if (strcmp(keys[k].group, group) != 0)
			continue;
		g_string_append_printf(known, "%s%s", known->len ? ", " : "", keys[k].key);
		size_t dist = edit_distance(key, keys[k].key);
		if (dist < best_d) {
			best_d = dist;
			best = keys[k].key;
		}
	}
	if (line)
		snprintf(where, sizeof where, "%u:", line);
	if (elsewhere)
		set_err(l->err, "%s:%s unknown key '%s' in [%s] (it belongs in [%s])",
			s->path, where, key, group, elsewhere);
	else if (best)
		set_err(l->err, "%s:%s unknown key '%s' in [%s] (did you mean '%s'?)",
			s->path, where, key, group, best);
	else
		set_err(l->err, "%s:%s unknown key '%s' in [%s] (known keys: %s)",
			s->path, where, key, group, known->str);
	g_string_free(known, TRUE);
	return -EINVAL;
}

static int unknown_group(struct loader *l, size_t si, const char *group)
{
	const struct source *s = &l->src[si];
	unsigned line = find_line(s->text, group, NULL);
	char where[32] = "";

	if (line)
		snprintf(where, sizeof where, "%u:", line);
	set_err(l->err, "%s:%s unknown group [%s] (known groups: [daemon], [limits], "
		"[job], [stream], [pressure], [sink.exec])", s->path, where, group);
	return -EINVAL;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32 || !(g_ascii_isalpha(s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!g_ascii_isalnum(s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

/* Why s is not an acceptable value for a string key of type t, or NULL. */
static const char *check_string(enum key_type t, const char *s)
{
	static const size_t sun_path_max = sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1;

	switch (t) {
	case T_SOCKET:
		if (s[0] == '/' && strlen(s) > sun_path_max)
			return "too long for a socket address (use a path of at most 107 bytes)";
		/* fallthrough */
	case T_PATH:
		if (s[0] != '/')
			return "not an absolute path (use a path starting with '/')";
		return NULL;
	case T_NAME:
		if (!valid_name(s))
			return "not a user or group name (use up to 32 letters, digits, '_', '.' "
			       "or '-', starting with a letter or '_')";
		return NULL;
	case T_SINK:
		if (lookup_name(sink_names, ARRAY_SIZE(sink_names), s) < 0)
			return "not a sink (use mock, jsonl or exec)";
		return NULL;
	case T_KB:
		if (!protocol_kb_valid(s))
			return "not a knowledge base name (use 1 to 64 letters, digits, '_', '.' "
			       "or '-', not starting with '.')";
		return NULL;
	case T_COMMAND:
		if (!s[0])
			return "empty (give the command the exec sink runs)";
		return NULL;
	default:
		return NULL;
	}
}

/* "20ms to 1m", "at least 4M", "at most 10". */
static void format_range(const struct key_def *d, char *buf, size_t size)
{
	char lo[32], hi[32];

	format_number(d->type, d->min, lo, sizeof lo);
	format_number(d->type, d->max, hi, sizeof hi);
	if (d->max == UINT64_MAX)
		snprintf(buf, size, "at least %s", lo);
	else if (d->min == 0)
		snprintf(buf, size, "at most %s", hi);
	else
		snprintf(buf, size, "%s to %s", lo, hi);
}

static int parse_double(const char *s, double *ret)
{
	char *end;
	double v;

	if (!*s || strspn(s, "0123456789.eE+-") != strlen(s))
		return -EINVAL;
	v = g_ascii_strtod(s, &end);
	if (end == s || *end || !isfinite(v))
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Parse the value of key k (already in l->raw[k]) from kf into l->stage. */
static int parse_key(struct loader *l, size_t si, int k, GKeyFile *kf)
{
	const struct key_def *d = &keys[k];
	void *field = (char *)&l->stage + d->offset;
	const char *raw = l->raw[k];
	char range[96];
	uint64_t v = 0;
	int r = -EINVAL;

	switch (d->type) {
	case T_PROFILE:
		r = lookup_name(profile_names, ARRAY_SIZE(profile_names), raw);
		if (r < 0)
			return key_error(l, si, k, "not a profile (use safety, balanced or speed)");
		*(enum config_profile *)field = (enum config_profile)r;
		return 0;
	case T_POLICY:
		r = lookup_name(policy_names, ARRAY_SIZE(policy_names), raw);
		if (r < 0)
			return key_error(l, si, k, "not a pressure policy (use none, pause or kill)");
		*(enum pressure_policy *)field = (enum pressure_policy)r;
		return 0;
	case T_PATH:
	case T_SOCKET:
	case T_NAME:
	case T_SINK:
	case T_KB:
	case T_COMMAND: {
		GError *gerr = NULL;
		const char *why;
		char *s, *copy;

		if (!g_utf8_validate(raw, -1, NULL))
			return key_error(l, si, k, "not valid UTF-8");
		s = g_key_file_get_string(kf, d->group, d->key, &gerr);
		if (!s) {
			r = key_error(l, si, k, "%s", gerr->message);
			g_error_free(gerr);
			return r;
		}
		why = check_string(d->type, s);
		if (why) {
			g_free(s);
			return key_error(l, si, k, "%s", why);
		}
		copy = strdup(s);
		g_free(s);
		if (!copy)
			return oom(l);
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	}
	case T_DOUBLE: {
		double x;
		if (parse_double(raw, &x) < 0)
			return key_error(l, si, k, "not a number (use a decimal such as %s)",
					 k == K_MEMORY_HIGH_RATIO ? "0.9" : "10.0");
		if (!(x > 0 && x <= d->dmax))
			return key_error(l, si, k, "out of range (use a number above 0 and at most %g)",
					 d->dmax);
		*(double *)field = x;
		return 0;
	}
	case T_SIZE:
	case T_SIZE_UINT:
		r = parse_size(raw, &v);
		if (r == -EINVAL)
			return key_error(l, si, k, "not a size (use a number with an optional K, M, "
					 "G or T suffix, e.g. 6G)");
		break;
	case T_MS:
	case T_MS_PLAIN:
	case T_US:
		r = parse_duration_ms(raw, &v);
		if (r == -EINVAL)
			return key_error(l, si, k, "not a duration (use a number with an optional "
					 "ms, s, m or h suffix, e.g. 200ms)");
		break;
	case T_UINT:
		r = parse_u64(raw, &v);
		if (r == -EINVAL)
			return key_error(l, si, k, "not a whole number (use digits only, e.g. 64)");
		break;
	}

	/* Numbers: every bound in the table fits the field. */
	if (r == -ERANGE || v < d->min || v > d->max) {
		if (d->min == 0 && d->max == UINT64_MAX)
			return key_error(l, si, k, "too large");
		format_range(d, range, sizeof range);
		return key_error(l, si, k, "out of range (allowed: %s)", range);
	}
	switch (d->type) {
	case T_SIZE_UINT:
	case T_UINT:
		*(unsigned *)field = (unsigned)v;
		break;
	case T_US:
		*(uint64_t *)field = v * 1000;
		break;
	default:
		*(uint64_t *)field = v;
		break;
	}
	return 0;
}

/* Parse l->src[si] and record every key it sets. */
static int load_source(struct loader *l, size_t si)
{
	const struct source *s = &l->src[si];
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_auto(GStrv) group_list = NULL;
	GError *gerr = NULL;

	if (!g_key_file_load_from_data(kf, s->text, strlen(s->text), G_KEY_FILE_NONE, &gerr)) {
		unsigned line = find_bad_line(s->text);
		if (line)
			set_err(l->err, "%s:%u: %s", s->path, line, gerr->message);
		else
			set_err(l->err, "%s: %s", s->path, gerr->message);
		g_error_free(gerr);
		return -EINVAL;
	}

	/* GKeyFile sets localized keys ("key[de]") aside without listing
	 * them; nothing here is translated, so such a key is a mistake. */
	for (struct scan sc = { .p = s->text }; scan_next(&sc);)
		if (sc.kind == LINE_KEY && memchr(sc.name, '[', sc.name_len)) {
			g_autofree char *group = g_strndup(sc.group, sc.group_len);
			g_autofree char *key = g_strndup(sc.name, sc.name_len);
			return unknown_key(l, si, group, key);
		}

	group_list = g_key_file_get_groups(kf, NULL);
	for (size_t g = 0; group_list[g]; g++) {
		const char *group = group_list[g];
		g_auto(GStrv) key_list = NULL;

		if (lookup_name(groups, ARRAY_SIZE(groups), group) < 0)
			return unknown_group(l, si, group);
		key_list = g_key_file_get_keys(kf, group, NULL, NULL);
		for (size_t i = 0; key_list && key_list[i]; i++) {
			int k = find_key(group, key_list[i]);
			char *raw, *copy;
			int r;

			if (k < 0)
				return unknown_key(l, si, group, key_list[i]);
			/* GKeyFile keeps trailing blanks in values, where nobody
			 * sees them; a trailing blank that matters is written \s. */
			raw = g_key_file_get_value(kf, group, key_list[i], NULL);
			if (raw) {
				g_strchomp(raw);
				g_key_file_set_value(kf, group, key_list[i], raw);
			}
			copy = strdup(raw ? raw : "");
			g_free(raw);
			if (!copy)
				return oom(l);
			free(l->raw[k]);
			l->raw[k] = copy;
			r = parse_key(l, si, k, kf);
			if (r < 0)
				return r;
			l->set[k] = true;
			l->from[k] = si;
		}
	}
	return 0;
}

static int dropin_filter(const struct dirent *de)
{
	size_t n = strlen(de->d_name);

	return de->d_name[0] != '.' && n > 5 && strcmp(de->d_name + n - 5, ".conf") == 0;
}

static int dropin_compare(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Read and parse every drop-in next to path, in strcmp order. */
static int load_dropins(struct loader *l, const char *path)
{
	g_autofree char *base = g_path_get_dirname(path);
	g_autofree char *dir = g_build_filename(base, DROPIN_DIR, NULL);
	struct dirent **list = NULL;
	int n, r = 0;

	n = scandir(dir, &list, dropin_filter, dropin_compare);
	if (n < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		set_err(l->err, "%s: cannot read drop-in directory: %s", dir, strerror(-r));
		return r;
	}
	for (int i = 0; i < n; i++) {
		g_autofree char *file = g_build_filename(dir, list[i]->d_name, NULL);
		struct stat st;
		char *text = NULL;

		if (r < 0)
			continue;
		/* Something that is not a file (a directory named x.conf, a
		 * dangling symlink) is not a drop-in. */
		if (stat(file, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		r = read_text(file, &text);
		if (r < 0) {
			read_error(l, file, r);
			continue;
		}
		r = add_source(l, file, text);
		if (r == 0)
			r = load_source(l, l->nsrc - 1);
	}
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
	return r;
}

/* Where the value of key k in cfg came from: k itself if a file set it,
 * the profile key if the preset did, -1 for a built-in default. */
static int origin(const struct loader *l, int k)
{
	if (l->set[k])
		return k;
	if (keys[k].preset && l->set[K_PROFILE])
		return K_PROFILE;
	return -1;
}

/* Of two keys that disagree, the one set last (later file, later line). */
static int blame(const struct loader *l, int a, int b)
{
	int oa = origin(l, a), ob = origin(l, b);
	unsigned la, lb;

	if (oa < 0 || ob < 0)
		return oa < 0 ? ob : oa;
	if (l->from[oa] != l->from[ob])
		return l->from[oa] > l->from[ob] ? oa : ob;
	la = find_line(l->src[l->from[oa]].text, keys[oa].group, keys[oa].key);
	lb = find_line(l->src[l->from[ob]].text, keys[ob].group, keys[ob].key);
	return la >= lb ? oa : ob;
}

/* Report a conflict between keys a and b at the one set last. */
_printf_(5, 6) static int cross_error(struct loader *l, const char *path, int a, int b,
				      const char *fmt, ...)
{
	int k = blame(l, a, b);
	va_list ap;
	char *msg;
	int r;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (k >= 0) {
		r = key_error(l, l->from[k], k, "%s", msg ? msg : "conflicting values");
	} else {
		set_err(l->err, "%s: %s", path, msg ? msg : "conflicting values");
		r = -EINVAL;
	}
	free(msg);
	return r;
}

/* " (from profile speed)" when key k took its value from the preset. */
static const char *preset_note(const struct loader *l, const struct config *cfg, int k,
			       char *buf, size_t size)
{
	if (origin(l, k) != K_PROFILE)
		return "";
	snprintf(buf, size, ", from profile %s", config_profile_name(cfg->profile));
	return buf;
}

/* Sizes that may not exceed another: a job default and its ceiling, a
 * per-user share and the whole. */
static const struct { int lo, hi; bool ceiling; } size_order[] = {
	{ K_MEMORY_MAX, K_MEMORY_MAX_CEILING, true },
	{ K_MAX_BYTES, K_MAX_BYTES_CEILING, true },
	{ K_MAX_SPOOL_PER_USER, K_MAX_SPOOL, false },
};
#define SIZE_FIELD(c, k) (*(const uint64_t *)((const char *)(c) + keys[k].offset))

/* Checks that involve more than one key, once every file is merged. */
static int check_merged(struct loader *l, const char *path, const struct config *c)
{
	char a[32], b[32], note[48];

	if (c->batch_size > c->max_batch_size_ceiling)
		return cross_error(l, path, K_BATCH_SIZE, K_MAX_BATCH_SIZE_CEILING,
				   "[job] batch_size (%u%s) exceeds [limits] max_batch_size_ceiling "
				   "(%u); lower batch_size or raise the ceiling",
				   c->batch_size, preset_note(l, c, K_BATCH_SIZE, note, sizeof note),
				   c->max_batch_size_ceiling);
	for (size_t i = 0; i < ARRAY_SIZE(size_order); i++) {
		int lo = size_order[i].lo, hi = size_order[i].hi;
		uint64_t x = SIZE_FIELD(c, lo), y = SIZE_FIELD(c, hi);

		if (x <= y)
			continue;
		format_size(x, a, sizeof a);
		format_size(y, b, sizeof b);
		return cross_error(l, path, lo, hi, "[%s] %s (%s) exceeds [%s] %s (%s)%s%s%s",
				   keys[lo].group, keys[lo].key, a, keys[hi].group, keys[hi].key,
				   b, size_order[i].ceiling ? "; lower " : "",
				   size_order[i].ceiling ? keys[lo].key : "",
				   size_order[i].ceiling ? " or raise the ceiling" : "");
	}
	/* The chunker needs room for new text after the overlap. */
	if (c->gpu_memory_max_ceiling && c->gpu_memory_max > c->gpu_memory_max_ceiling) {
		format_size(c->gpu_memory_max, a, sizeof a);
		format_size(c->gpu_memory_max_ceiling, b, sizeof b);
		return cross_error(l, path, K_GPU_MEMORY_MAX, K_GPU_MEMORY_MAX_CEILING,
				   "[job] gpu_memory_max (%s) exceeds [limits] gpu_memory_max_ceiling "
				   "(%s); lower gpu_memory_max or raise the ceiling", a, b);
	}
	if (c->chunk_overlap * 2 >= c->chunk_size)
		return cross_error(l, path, K_CHUNK_OVERLAP, K_CHUNK_SIZE,
				   "[job] chunk_overlap (%u) must be less than half of [job] chunk_size (%u)",
				   c->chunk_overlap, c->chunk_size);
	if (c->max_connections_per_user > c->max_connections)
		return cross_error(l, path, K_MAX_CONNECTIONS_PER_USER, K_MAX_CONNECTIONS,
				   "[limits] max_connections_per_user (%u) exceeds [limits] "
				   "max_connections (%u)", c->max_connections_per_user,
				   c->max_connections);
	if (c->psi_threshold_us > c->psi_window_us) {
		format_duration(c->psi_threshold_us / 1000, a, sizeof a);
		format_duration(c->psi_window_us / 1000, b, sizeof b);
		return cross_error(l, path, K_PSI_THRESHOLD, K_PSI_WINDOW,
				   "[pressure] psi_threshold (%s) exceeds [pressure] psi_window (%s); "
				   "the stall threshold must fit in the window", a, b);
	}
	if (strcmp(c->sink, "exec") == 0 && !c->exec_command)
		return cross_error(l, path, K_SINK, K_EXEC_COMMAND,
				   "sink exec needs [sink.exec] command; set it, or use sink mock "
				   "or jsonl");
	return 0;
}

/* Build the merged configuration: defaults, preset, then explicit keys. */
static void merge(struct loader *l, struct config *res)
{
	config_init(res);
	if (l->set[K_PROFILE])
		res->profile = l->stage.profile;
	apply_preset(res);
	for (int k = 0; k < K_COUNT; k++) {
		const struct key_def *d = &keys[k];
		void *dst = (char *)res + d->offset, *src = (char *)&l->stage + d->offset;

		if (!l->set[k])
			continue;
		if (is_string_type(d->type)) {
			free(*(char **)dst);
			*(char **)dst = steal_pointer((char **)src);
			continue;
		}
		switch (d->type) {
		case T_PROFILE:
			*(enum config_profile *)dst = *(enum config_profile *)src;
			break;
		case T_POLICY:
			*(enum pressure_policy *)dst = *(enum pressure_policy *)src;
			break;
		case T_SIZE_UINT:
		case T_UINT:
			*(unsigned *)dst = *(unsigned *)src;
			break;
		case T_DOUBLE:
			*(double *)dst = *(double *)src;
			break;
		default:
			*(uint64_t *)dst = *(uint64_t *)src;
			break;
		}
	}
}

int config_load(const char *path, bool must_exist, struct config *ret, char **err)
{
	struct loader l = { .err = err };
	struct config res;
	char *text = NULL;
	int r;

	if (!path)
		path = CONFIG_PATH_DEFAULT;

	r = read_text(path, &text);
	if (r == -ENOENT && !must_exist) {
		r = 0;
	} else if (r < 0) {
		read_error(&l, path, r);
	} else {
		r = add_source(&l, path, text);
		if (r == 0)
			r = load_source(&l, 0);
	}
	if (r == 0)
		r = load_dropins(&l, path);
	if (r == 0) {
		merge(&l, &res);
		r = check_merged(&l, path, &res);
		if (r < 0)
			config_done(&res);
		else
			*ret = res;
	}

	config_done(&l.stage);
	for (size_t k = 0; k < K_COUNT; k++)
		free(l.raw[k]);
	for (size_t i = 0; i < l.nsrc; i++) {
		free(l.src[i].path);
		free(l.src[i].text);
	}
	free(l.src);
	return r;
}
