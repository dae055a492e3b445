/* The jsonl sink: each batch appended to <state_dir>/kb/<kb>/chunks.jsonl, one write and one fsync. */
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
	int r;

	snprintf(dir, sizeof dir, "%s/kb/%s", state_dir, rec->kb);
	if ((r = mkdir_p(dir, 0755)) < 0) {
		snprintf(err, errsz, "cannot create %s: %s", dir, strerror(-r));
		return r;
	}
	lines = batch_lines(rec, batch, &len);
	if (!lines) {
		snprintf(err, errsz, "the batch has no chunks array");
		return -EBADMSG;
	}
	if (len == 0)
		return 0;
	strncat(dir, "/chunks.jsonl", sizeof dir - strlen(dir) - 1);
	fd = open(dir, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errsz, "cannot open %s: %s", dir, strerror(errno));
		return r;
	}
	if ((r = write_full(fd, lines, len)) < 0 || (fsync(fd) < 0 && (r = -errno))) {
		snprintf(err, errsz, "writing %s failed: %s", dir, strerror(-r));
		return r;
	}
	return 0;
}

int sink_jsonl_recover(const char *state_dir, const char *kb, uint64_t job_id,
		       uint64_t *max_batch, unsigned *max_page)
{
	char path[PATH_MAX], prefix[48], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	off_t good = 0;
	FILE *f;

	snprintf(path, sizeof path, "%s/kb/%s/chunks.jsonl", state_dir, kb);
	snprintf(prefix, sizeof prefix, "{\"job\":%llu,", (unsigned long long)job_id);
	f = fopen(path, "r+e");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
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
		*max_page = MAX(*max_page, (unsigned)MIN(p, UINT32_MAX));
	}
	free(line);
	if (ftruncate(fileno(f), good) < 0) {
		int r = -errno;
		fclose(f);
		return r;
	}
	fclose(f);
	return 0;
}
