/* Document in, batches out: sniff the format from the start of the input
 * (a PDF header may sit anywhere in the first 1024 bytes; a slow source
 * is not waited on for longer than max_wait_ms), stream text formats
 * straight into the chunker, closing batches on time between reads,
 * assemble a PDF in the scratch fd and extract it page by page with
 * poppler-glib. */
#ifndef MEMSAFE_EXTRACT_H
#define MEMSAFE_EXTRACT_H

#include <stddef.h>

#include "chunker.h"

struct extract_opts {
	struct chunker_opts chunk;
	size_t buffer_size;   /* read size from the input pipe */
	int in_fd;            /* the document */
	int scratch_fd;       /* where a PDF is assembled; -1 if none */
	unsigned first_page;  /* resume: skip pages before this (1-based) */
};

/* Make poppler and glib set up their globals (GlobalParams scans the
 * poppler-data directories) while the filesystem is still reachable,
 * i.e. before the seccomp filter is loaded. */
int extract_preinit(void);
/* Run the extraction; returns the worker's exit status. */
int extract_run(const struct extract_opts *o);

#endif
