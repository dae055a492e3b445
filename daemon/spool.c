#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <glib.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "spool.h"
#include "util.h"

struct spool {
	struct event *ev;
	int src, dst;
	bool is_pipe;
	uint64_t size, max;
	size_t chunk;
	struct timeval idle;
	GChecksum *sum;
	char hex[65];
	char *buf;
	spool_done_fn done;
	void *arg;
};

static void finish(struct spool *sp, int error, const char *msg)
{
	event_del(sp->ev);
	if (error == 0) {
		snprintf(sp->hex, sizeof sp->hex, "%s", g_checksum_get_string(sp->sum));
		if (fsync(sp->dst) < 0) {
			error = -errno;
			msg = "could not write the spool file to disk";
		}
	}
	free(sp->buf);
	sp->buf = NULL;
	sp->done(sp, error, msg, sp->arg);
}

static void spool_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spool *sp = arg;
	char msg[256];
	ssize_t n;

	if (what & EV_TIMEOUT && sp->is_pipe) {
		snprintf(msg, sizeof msg, "the pipe sent nothing for %ld s; "
			 "close its write end when the document is complete",
			 (long)sp->idle.tv_sec);
		finish(sp, -ETIMEDOUT, msg);
		return;
	}
	do
		n = read(sp->src, sp->buf, sp->chunk);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN) {
		event_add(sp->ev, &sp->idle);
		return;
	}
	if (n < 0) {
		snprintf(msg, sizeof msg, "reading the document failed: %s", strerror(errno));
		finish(sp, -errno, msg);
		return;
	}
	if (n == 0) {
		finish(sp, 0, NULL);
		return;
	}
	if (sp->size + (uint64_t)n > sp->max) {
		snprintf(msg, sizeof msg, "the document is larger than max_file_size "
			 "(%" PRIu64 " bytes); split it or raise max_file_size in "
			 "memsafed.conf", sp->max);
		finish(sp, -EFBIG, msg);
		return;
	}
	if (write_full(sp->dst, sp->buf, (size_t)n) < 0) {
		snprintf(msg, sizeof msg, "writing the spool failed: %s "
			 "(is the state directory's disk full?)", strerror(errno));
		finish(sp, -EIO, msg);
		return;
	}
	g_checksum_update(sp->sum, (const guchar *)sp->buf, n);
	sp->size += (uint64_t)n;
	/* Regular files are always readable: yield to the loop between
	 * buffers with a zero timeout. */
	if (sp->is_pipe) {
		event_add(sp->ev, &sp->idle);
	} else {
		struct timeval zero = { 0, 0 };
		event_add(sp->ev, &zero);
	}
}

/* Kernel pseudo-filesystems: what a read returns there is computed for the
 * reader at read time (/proc/PID/stat shows a process's code, stack and
 * heap addresses to a reader allowed to ptrace it; %pK pointers in
 * /proc/net/netlink are shown to CAP_SYSLOG under kptr_restrict=1; many
 * debugfs and sysfs files check capabilities in read()). memsafed reads
 * the passed fd as root, so such a file would tell a user what only root
 * may see. f_type values from linux/magic.h and the kernel sources. */
static const struct {
	unsigned long magic;
	const char *name;
} pseudo_fs[] = {
	{ 0x9fa0, "proc" },            /* PROC_SUPER_MAGIC */
	{ 0x62656572, "sysfs" },       /* SYSFS_MAGIC */
	{ 0x64626720, "debugfs" },     /* DEBUGFS_MAGIC */
	{ 0x74726163, "tracefs" },     /* TRACEFS_MAGIC */
	{ 0x73636673, "securityfs" },  /* SECURITYFS_MAGIC */
	{ 0x27e0eb, "cgroup" },        /* CGROUP_SUPER_MAGIC */
	{ 0x63677270, "cgroup2" },     /* CGROUP2_SUPER_MAGIC */
	{ 0xcafe4a11, "bpf" },         /* BPF_FS_MAGIC */
	{ 0x62656570, "configfs" },    /* CONFIGFS_MAGIC */
	{ 0x6165676c, "pstore" },      /* PSTOREFS_MAGIC */
	{ 0xde5e81e4, "efivarfs" },    /* EFIVARFS_MAGIC */
	{ 0xf97cff8c, "selinuxfs" },   /* SELINUX_MAGIC */
	{ 0x43415d53, "smackfs" },     /* SMACK_MAGIC */
	{ 0x65735543, "fusectl" },     /* FUSECTL_SUPER_MAGIC */
	{ 0x42494e4d, "binfmt_misc" }, /* BINFMTFS_MAGIC */
	{ 0x7655821, "resctrl" },      /* RDTGROUP_SUPER_MAGIC */
	{ 0x19800202, "mqueue" },      /* MQUEUE_MAGIC */
	{ 0x6e736673, "nsfs" },        /* NSFS_MAGIC */
	{ 0x50494446, "pidfs" },       /* PIDFS_MAGIC (6.9+) */
	{ 0x09041934, "anon_inodefs" },/* ANON_INODE_FS_MAGIC */
	{ 0x9fa2, "usbdevfs" },        /* USBDEVICE_SUPER_MAGIC */
	{ 0xabba1974, "xenfs" },       /* XENFS_SUPER_MAGIC */
	{ 0x9fa1, "openpromfs" },      /* OPENPROM_SUPER_MAGIC */
	{ 0x6c6f6f70, "binderfs" },    /* BINDERFS_SUPER_MAGIC */
	{ 0x5345434d, "secretmem" },   /* SECRETMEM_MAGIC */
};

const char *spool_pseudo_fs_name(unsigned long f_type)
{
	for (size_t i = 0; i < ARRAY_SIZE(pseudo_fs); i++)
		if (pseudo_fs[i].magic == f_type)
			return pseudo_fs[i].name;
	return NULL;
}

int spool_start(struct event_base *base, int src_fd, int dst_fd, uint64_t max_size,
		size_t chunk_size, uint64_t idle_timeout_ms, spool_done_fn done,
		void *arg, struct spool **ret, char *msg, size_t msgsz)
{
	struct spool *sp;
	struct statfs sfs;
	struct stat st;
	const char *fs;
	int fl;

	if (fstat(src_fd, &st) < 0) {
		snprintf(msg, msgsz, "the passed file descriptor cannot be examined: %s",
			 strerror(errno));
		return -EBADF;
	}
	if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
		snprintf(msg, msgsz, "the document is %s; pass a regular file or a pipe",
			 S_ISDIR(st.st_mode) ? "a directory" :
			 S_ISSOCK(st.st_mode) ? "a socket" :
			 S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" :
			 "not a regular file");
		return -EINVAL;
	}
	if (fstatfs(src_fd, &sfs) < 0) {
		snprintf(msg, msgsz, "the passed file descriptor's filesystem cannot be "
			 "examined: %s", strerror(errno));
		return -EBADF;
	}
	fs = spool_pseudo_fs_name((unsigned long)sfs.f_type);
	if (fs) {
		snprintf(msg, msgsz, "the document is a file on %s, a kernel "
			 "pseudo-filesystem whose contents depend on who reads them "
			 "(memsafed reads as root), so it is refused; copy what you "
			 "want ingested into a regular file (cat FILE >copy) and "
			 "submit the copy", fs);
		return -EPERM;
	}
	fl = fcntl(src_fd, F_GETFL);
	if (fl < 0 || ((fl & O_ACCMODE) != O_RDONLY && (fl & O_ACCMODE) != O_RDWR)) {
		snprintf(msg, msgsz, "the passed file descriptor is not open for reading");
		return -EBADF;
	}
	if (S_ISFIFO(st.st_mode) && !(fl & O_NONBLOCK) &&
	    fcntl(src_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		snprintf(msg, msgsz, "cannot make the pipe non-blocking: %s", strerror(errno));
		return -errno;
	}
	sp = calloc(1, sizeof *sp);
	if (!sp) {
		snprintf(msg, msgsz, "memsafed ran out of memory");
		return -ENOMEM;
	}
	sp->src = src_fd;
	sp->dst = dst_fd;
	sp->is_pipe = S_ISFIFO(st.st_mode);
	sp->max = max_size;
	sp->chunk = chunk_size;
	sp->idle.tv_sec = (time_t)(idle_timeout_ms / 1000);
	sp->idle.tv_usec = (suseconds_t)(idle_timeout_ms % 1000) * 1000;
	sp->done = done;
	sp->arg = arg;
	sp->buf = malloc(chunk_size);
	sp->sum = g_checksum_new(G_CHECKSUM_SHA256);
	sp->ev = event_new(base, sp->is_pipe ? src_fd : -1, sp->is_pipe ? EV_READ : 0,
			   spool_cb, sp);
	if (!sp->buf || !sp->ev) {
		spool_free(sp);
		snprintf(msg, msgsz, "memsafed ran out of memory");
		return -ENOMEM;
	}
	if (sp->is_pipe) {
		event_add(sp->ev, &sp->idle);
	} else {
		struct timeval zero = { 0, 0 };
		event_add(sp->ev, &zero);
	}
	*ret = sp;
	return 0;
}

struct spool *spool_free(struct spool *sp)
{
	if (!sp)
		return NULL;
	if (sp->ev)
		event_free(sp->ev);
	if (sp->sum)
		g_checksum_free(sp->sum);
	free(sp->buf);
	free(sp);
	return NULL;
}

uint64_t spool_size(const struct spool *sp) { return sp->size; }
const char *spool_sha256(const struct spool *sp) { return sp->hex; }
