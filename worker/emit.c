#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "emit.h"
#include "frame.h"
#include "json.h"

#define OUT_FD STDOUT_FILENO

uint64_t emit_start_ms;

static int send_gen(yajl_gen g)
{
	const unsigned char *buf;
	size_t len;

	yajl_gen_get_buf(g, &buf, &len);
	return frame_write(OUT_FD, buf, len);
}

static yajl_gen begin(const char *type)
{
	yajl_gen g = json_gen_new(false);

	yajl_gen_map_open(g);
	json_kstr(g, "t", type);
	return g;
}

static int finish(yajl_gen g)
{
	int r;

	yajl_gen_map_close(g);
	r = send_gen(g);
	yajl_gen_free(g);
	return r;
}

int emit_doc(unsigned pages)
{
	yajl_gen g = begin("doc");

	json_kuint(g, "pages", pages);
	return finish(g);
}

int emit_page(unsigned page, unsigned pages)
{
	yajl_gen g = begin("page");

	json_kuint(g, "page", page);
	json_kuint(g, "pages", pages);
	return finish(g);
}

int emit_batch(const struct batch *b)
{
	/* A batch starts where the previous one ended (or the worker began). */
	static uint64_t started_ms;
	yajl_gen g = begin("batch");
	int r;

	if (!started_ms)
		started_ms = emit_start_ms;

	json_kuint(g, "batch", b->id);
	json_kuint(g, "first_page", b->first_page);
	json_kuint(g, "last_page", b->last_page);
	json_kuint(g, "bytes", b->bytes);
	json_kuint(g, "started_ms", started_ms);
	json_key(g, "chunks");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < b->n; i++) {
		yajl_gen_map_open(g);
		json_kuint(g, "page", b->chunks[i].page);
		json_key(g, "text");
		json_strn(g, b->chunks[i].text, b->chunks[i].len);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	r = finish(g);
	started_ms = now_real_ms();
	return r;
}

int emit_page_error(unsigned page, const char *msg)
{
	yajl_gen g = begin("page_error");

	json_kuint(g, "page", page);
	json_kstr(g, "message", msg);
	return finish(g);
}

int emit_pressure(const char *phase, uint64_t mb, uint64_t target_mb)
{
	yajl_gen g = begin("pressure");

	json_kstr(g, "phase", phase);
	json_kuint(g, "mb", mb);
	json_kuint(g, "target_mb", target_mb);
	return finish(g);
}

int emit_end(unsigned pages, uint64_t chunks, uint64_t batches)
{
	yajl_gen g = begin("end");

	json_kuint(g, "pages", pages);
	json_kuint(g, "chunks", chunks);
	json_kuint(g, "batches", batches);
	return finish(g);
}

int emit_fatal(const char *reason, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	yajl_gen g;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	g = begin("fatal");
	json_kstr(g, "reason", reason);
	json_kstr(g, "message", msg);
	finish(g);
	/* stderr reaches the daemon's journal too, for setup failures that
	 * happen before the daemon reads frames. */
	fprintf(stderr, "memsafe-worker: %s\n", msg);
	if (strcmp(reason, "bad_document") == 0)
		return WORKER_EXIT_BAD_DOCUMENT;
	if (strcmp(reason, "setup") == 0)
		return WORKER_EXIT_SETUP;
	return WORKER_EXIT_INTERNAL;
}
