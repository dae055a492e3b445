/* Flush sinks: the one entry point for the sinks that flush in place. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sink.h"

int sink_flush(const struct job_record *r, const char *state_dir, yajl_val batch,
	       char *err, size_t errsz)
{
	switch (r->sink) {
	case SINK_MOCK:
		return 0;
	case SINK_JSONL:
		return sink_jsonl_flush(r, state_dir, batch, err, errsz);
	default:
		snprintf(err, errsz, "sink \"%s\" cannot flush here", sink_kind_to_string(r->sink));
		return -EOPNOTSUPP;
	}
}
