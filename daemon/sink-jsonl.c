/* The jsonl sink: each batch appended to <state_dir>/kb/<uid>/<kb>/chunks.jsonl, one write and one fsync. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "json.h"
#include "sink.h"
#include "util.h"

/* A knowledge base belongs to the user who fed it: kb/<uid>/<kb>/, the
 * directories root's and 0711 (nobody can plant a link or list them),
 * chunks.jsonl the user's own, 0600. Fills path with the file's path. */
static int kb_path(const char *state_dir, uid_t uid, const char *kb, char *path, size_t size,
		   char *err, size_t errsz)
{
	static const char *const parts[] = { "kb", NULL, NULL };
	char dir[PATH_MAX];
	int r;

	snprintf(dir, sizeof dir, "%s", state_dir);
	for (int i = 0; i < 3; i++) {
		char part[32];
		const char *name = parts[i];
		size_t n = strlen(dir);

		if (i == 1) {
			snprintf(part, sizeof part, "%u", (unsigned)uid);
			name = part;
		} else if (i == 2) {
			name = kb;
		}
		snprintf(dir + n, sizeof dir - n, "/%s", name);
		if (mkdir(dir, 0711) < 0 && errno != EEXIST) {
			r = -errno;
			snprintf(err, errsz, "cannot create %s: %s", dir, strerror(errno));
			return r;
		}
		/* Older versions made kb/ and kb/<kb>/ 0755: tighten. */
		if (i == 0 && chmod(dir, 0711) < 0) {
			r = -errno;
			snprintf(err, errsz, "cannot chmod %s: %s", dir, strerror(errno));
			return r;
		}
	}
	snprintf(path, size, "%s/chunks.jsonl", dir);
	return 0;
}

/* Open the user's chunks.jsonl for appending: never through a link, never
 * a file someone else owns or that has another name. */
static int kb_open(const char *path, uid_t uid, gid_t gid, char *err, size_t errsz)
{
	struct stat st;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	int r;

	if (fd < 0) {
		r = -errno;
		snprintf(err, errsz, "cannot open %s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		snprintf(err, errsz, "%s is not a plain file of its own (refused)", path);
		close(fd);
		return -EPERM;
	}
	/* chmod while still root's: no CAP_FOWNER needed. */
	if ((st.st_uid != uid || st.st_gid != gid || (st.st_mode & 07777) != 0600) &&
	    (fchmod(fd, 0600) < 0 || fchown(fd, uid, gid) < 0)) {
		r = -errno;
		snprintf(err, errsz, "cannot give %s to uid %u: %s", path, (unsigned)uid,
			 strerror(errno));
		close(fd);
		return r;
	}
	return fd;
}

/* Every chunk of the batch as one JSON line each, in one buffer, so the
 * batch reaches the file with a single write. */
static char *batch_lines(const struct job_record *rec, yajl_val batch, size_t *ret_len)
{
	yajl_val chunks = json_get(batch, "chunks");
	uint64_t bid = 0;
	size_t cap = 4096, len = 0;
	char *out = malloc(cap);

	if (!out || !YAJL_IS_ARRAY(chunks)) {
		free(out);
		return NULL;
	}
	json_get_u64(batch, "batch", &bid);
	for (size_t i = 0; i < chunks->u.array.len; i++) {
		yajl_val c = chunks->u.array.values[i];
		_cleanup_json_gen_ yajl_gen g = json_gen_new(false);
		const unsigned char *buf;
		const char *text = "";
		uint64_t page = 0;
		size_t n;

		json_get_str(c, "text", &text);
		json_get_u64(c, "page", &page);
		yajl_gen_map_open(g);
		json_kuint(g, "job", rec->id);
		json_kstr(g, "document", rec->name);
		json_kstr(g, "sha256", rec->sha256);
		json_kuint(g, "batch", bid);
		json_kuint(g, "chunk", i);
		json_kuint(g, "page", page);
		json_kstr(g, "text", text);
		yajl_gen_map_close(g);
		yajl_gen_get_buf(g, &buf, &n);
		while (len + n + 1 > cap) {
			char *p = realloc(out, cap * 2);
			if (!p) {
				free(out);
				return NULL;
			}
			out = p;
			cap *= 2;
		}
		memcpy(out + len, buf, n);
		len += n;
		out[len++] = '\n';
	}
	*ret_len = len;
	return out;
}

int sink_jsonl_flush(const struct job_record *rec, const char *state_dir, yajl_val batch,
		       char *err, size_t errsz)
{
	char dir[PATH_MAX];
	_cleanup_free_ char *lines = NULL;
	_cleanup_close_ int fd = -1;
	size_t len = 0;
	struct stat st;
	int r;

	if ((r = kb_path(state_dir, rec->uid, rec->kb, dir, sizeof dir, err, errsz)) < 0)
		return r;
	lines = batch_lines(rec, batch, &len);
	if (!lines) {
		snprintf(err, errsz, "the batch has no chunks array");
		return -EBADMSG;
	}
	if (len == 0)
		return 0;
	if ((fd = kb_open(dir, rec->uid, rec->gid, err, errsz)) < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err, errsz, "cannot stat %s: %s", dir, strerror(errno));
		return r;
	}
	if ((r = write_full(fd, lines, len)) < 0 || (fsync(fd) < 0 && (r = -errno))) {
		/* A full disk: cut off what part of the batch got in, so the
		 * file stays whole lines and the next write starts on its own. */
		int t = ftruncate(fd, st.st_size) < 0 ? -errno : 0;
		if (t == 0)
			(void)fsync(fd);
		snprintf(err, errsz, "writing %s failed: %s%s", dir, strerror(-r),
			 t < 0 ? "; and cutting the partial batch off failed too" : "");
		return r;
	}
	return 0;
}

int sink_jsonl_recover(const char *state_dir, uid_t uid, const char *kb, uint64_t job_id,
		       uint64_t *max_batch, unsigned *max_page, unsigned *page_chunks)
{
	char path[PATH_MAX], prefix[48], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	off_t good = 0;
	unsigned file_page = 0, file_chunks = 0;
	FILE *f;

	int fd;

	snprintf(path, sizeof path, "%s/kb/%u/%s/chunks.jsonl", state_dir, (unsigned)uid, kb);
	snprintf(prefix, sizeof prefix, "{\"job\":%llu,", (unsigned long long)job_id);
	fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!(f = fdopen(fd, "r+"))) {
		close(fd);
		return -errno;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		_cleanup_json_ yajl_val v = NULL;
		uint64_t b = 0, p = 0;
		char err[64];

		if (line[n - 1] != '\n')
			break;            /* torn: the crash hit mid-write */
		good += n;
		if (strncmp(line, prefix, strlen(prefix)) != 0 ||
		    json_parse(line, (size_t)n, &v, err, sizeof err) < 0)
			continue;
		json_get_u64(v, "batch", &b);
		json_get_u64(v, "page", &p);
		*max_batch = MAX(*max_batch, b);
		p = MIN(p, UINT32_MAX);
		if (!file_chunks || p > file_page) {
			file_page = (unsigned)p;
			file_chunks = 0;
		}
		if (p == file_page)
			file_chunks++;
	}
	free(line);
	/* The file holds every chunk flushed: it knows better than a
	 * job.json saved up to a second before the crash. */
	if (file_chunks && (file_page > *max_page ||
			    (file_page == *max_page && file_chunks > *page_chunks))) {
		*max_page = file_page;
		*page_chunks = file_chunks;
	}
	if (ftruncate(fileno(f), good) < 0) {
		int r = -errno;
		fclose(f);
		return r;
	}
	fclose(f);
	return 0;
}
