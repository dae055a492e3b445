#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "job.h"
#include "json.h"
#include "sink.h"
#include "util.h"

bool sink_name_valid(const char *name)
{
	return strcmp(name, "mock") == 0 || strcmp(name, "jsonl") == 0 ||
	       strcmp(name, "exec") == 0;
}

/* Every chunk of the batch as one JSON line each, in one buffer, so the
 * batch reaches the file with a single write. */
static char *batch_lines(const struct job *job, yajl_val batch, size_t *ret_len)
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
		json_kuint(g, "job", job->id);
		json_kstr(g, "document", job->name);
		json_kstr(g, "sha256", job->sha256);
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

static int flush_jsonl(struct job *job, const char *state_dir, yajl_val batch,
		       char *err, size_t errsz)
{
	char dir[PATH_MAX];
	_cleanup_free_ char *lines = NULL;
	_cleanup_close_ int fd = -1;
	size_t len = 0;
	int r;

	snprintf(dir, sizeof dir, "%s/kb/%s", state_dir, job->kb);
	if ((r = mkdir_p(dir, 0755)) < 0) {
		snprintf(err, errsz, "cannot create %s: %s", dir, strerror(-r));
		return r;
	}
	lines = batch_lines(job, batch, &len);
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

int sink_flush(struct job *job, const char *state_dir, yajl_val batch,
	       char *err, size_t errsz)
{
	if (strcmp(job->sink, "mock") == 0)
		return 0;
	if (strcmp(job->sink, "jsonl") == 0)
		return flush_jsonl(job, state_dir, batch, err, errsz);
	snprintf(err, errsz, "sink \"%s\" cannot flush here", job->sink);
	return -EOPNOTSUPP;
}
