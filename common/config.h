/* memsafed.conf: the effective configuration of the daemon.
 *
 * Sources, later wins per key: built-in defaults, then the `profile`
 * preset, then every key set explicitly in /etc/memsafed/memsafed.conf and
 * memsafed.conf.d/ *.conf (drop-ins in lexical order, read after the main
 * file). A bad file leaves *ret untouched and explains itself in err. */
#ifndef MEMSAFE_CONFIG_H
#define MEMSAFE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_PATH_DEFAULT SYSCONFDIR "/memsafed/memsafed.conf"

enum config_profile { PROFILE_SAFETY, PROFILE_BALANCED, PROFILE_SPEED };
enum pressure_policy { POLICY_NONE, POLICY_PAUSE, POLICY_KILL };

struct config {
	/* [daemon] */
	enum config_profile profile;
	char *socket_path;        /* socket */
	char *state_dir;          /* state_dir */
	char *worker_path;        /* worker */
	char *worker_user;        /* worker_user */
	char *admin_group;        /* admin_group */
	char *socket_group;       /* socket_group: may connect to a socket memsafed binds */
	uint64_t sample_interval_ms; /* sample_interval, >= 20ms */
	uint64_t memory_warn;     /* memory_warn, bytes */

	/* [limits]: what the host grants, and the ceilings on per-job options */
	uint64_t max_file_size;   /* bytes */
	unsigned max_concurrent;
	uint64_t reserve;         /* bytes kept free for the desktop */
	uint64_t memory_max_ceiling; /* largest memory_max a job may ask for */
	unsigned max_batch_size_ceiling;
	unsigned max_queued_per_user;
	unsigned max_running_per_user; /* root and admin_group are not counted */
	unsigned max_connections;
	unsigned max_connections_per_user;
	uint64_t max_bytes_ceiling;  /* largest max_bytes a job may ask for */
	uint64_t max_spool;          /* spooled documents not yet ended, in all */
	uint64_t max_spool_per_user; /* the same, per submitting user */
	uint64_t gpu_memory_max_ceiling; /* largest gpu_memory_max; 0 = none */

	/* [job]: per-job defaults, overridable by the submitter within ceilings */
	uint64_t memory_max;      /* bytes */
	double memory_high_ratio; /* 0 < r <= 1 */
	uint64_t swap_max;        /* bytes */
	unsigned pids_max;
	unsigned batch_size;      /* chunks per batch */
	uint64_t max_bytes;       /* bytes per batch */
	uint64_t max_wait_ms;
	unsigned chunk_size;      /* bytes per chunk */
	unsigned chunk_overlap;   /* bytes */
	uint64_t timeout_ms;      /* wall clock per job, 0 = none */
	uint64_t page_timeout_ms; /* wall clock per page, 0 = none */
	unsigned retries;         /* OOM retries */
	char *sink;               /* mock | jsonl | exec */
	char *kb;                 /* default knowledge base name */
	uint64_t gpu_memory_max;  /* device memory a job may hold, bytes; 0 = none */

	/* [stream] */
	uint64_t stream_chunk_size;  /* client fd -> spool read size */
	uint64_t stream_buffer_size; /* spool -> worker pipe write size */

	/* [pressure] */
	enum pressure_policy pressure_policy;
	double admission_psi_max;    /* system some avg10 (%) above which jobs wait */
	uint64_t psi_threshold_us;   /* trigger: stall time in window */
	uint64_t psi_window_us;      /* trigger window */
	uint64_t pressure_hold_ms;   /* low pressure needed before thawing */

	/* [sink.exec] */
	char *exec_command;
	uint64_t exec_timeout_ms;
};

/* Fill cfg with the built-in defaults (profile balanced). */
void config_init(struct config *cfg);
/* A deep copy of src into *dst (for a thread that outlives a reload);
 * config_done frees it. -ENOMEM leaves nothing to free. */
int config_copy(struct config *dst, const struct config *src);
/* Free the strings of cfg; cfg itself is the caller's. NULL-safe. */
void config_done(struct config *cfg);

/* Load path (and path.d/ *.conf) into a fresh *ret. A missing main file
 * is fine when !must_exist (built-in defaults apply). On error returns a
 * negative errno, leaves *ret untouched and allocates *err: one sentence
 * naming the file, line and key and what is allowed. */
int config_load(const char *path, bool must_exist, struct config *ret, char **err);

/* Print the effective configuration in memsafed.conf syntax. */
char *config_dump(const struct config *cfg);

const char *config_profile_name(enum config_profile p);
const char *pressure_policy_name(enum pressure_policy p);

#endif
