/* Frames from memsafe-worker to memsafed: a 4-byte big-endian length,
 * then that many bytes of JSON object with a "t" (type) member:
 *
 *   doc        pages: document opened, M pages
 *   page       page, pages: about to process page N (the daemon remembers
 *              it, so a worker that dies is known to have died on N)
 *   batch      batch, first_page, last_page, bytes, chunks: [{page, text}]
 *   page_error page, message: one page could not be read; the rest go on
 *   pressure   phase (alloc|hold|release), mb, target_mb
 *   end        pages, chunks, batches: normal completion
 *   fatal      reason (bad_document|setup|internal), message
 *   sandbox    user, namespaces, filesystem, landlock_abi, readable,
 *              capability_bounding_set_empty, seccomp: what the worker's
 *              sandbox applied (--report-sandbox), before any other frame
 *
 * The reader caps a frame's size; anything malformed is a worker fault. */
#ifndef MEMSAFE_FRAME_H
#define MEMSAFE_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FRAME_HEADER 4

/* The worker's file descriptors, as memsafed passes them. */
#define WORKER_FD_INPUT 0    /* the document, streamed in fixed buffers */
#define WORKER_FD_FRAMES 1   /* frames to the daemon */
#define WORKER_FD_STDERR 2
#define WORKER_FD_SCRATCH 3  /* an unlinked file where a PDF is assembled */

enum frame_type {
	FRAME_DOC, FRAME_PAGE, FRAME_BATCH, FRAME_PAGE_ERROR, FRAME_PRESSURE,
	FRAME_END, FRAME_FATAL, FRAME_SANDBOX, _FRAME_TYPE_MAX,
};

/* The "t" member of each type; -1 from _from_string for an unknown one. */
const char *frame_type_to_string(enum frame_type t);
int frame_type_from_string(const char *s);

struct frame_reader {
	uint8_t *buf;
	size_t len, cap;  /* bytes buffered, allocated */
	size_t max;       /* largest body accepted */
	size_t taken;     /* bytes of the frame last handed out */
};

void frame_reader_init(struct frame_reader *fr, size_t max);
void frame_reader_done(struct frame_reader *fr);
/* Read once from fd into the buffer: >0 bytes read, 0 EOF, -EAGAIN, or a
 * negative errno. */
ssize_t frame_reader_fill(struct frame_reader *fr, int fd);
/* Append bytes (tests, fuzzing). */
int frame_reader_feed(struct frame_reader *fr, const void *data, size_t len);
/* Next complete body: 1 with *body and *len valid until the next call, 0 when
 * more bytes are needed, -EMSGSIZE when the announced length exceeds max,
 * -EBADMSG for a zero-length frame. */
int frame_reader_next(struct frame_reader *fr, const char **body, size_t *len);

/* What the daemon allows in one frame of a job's worker. */
struct frame_limits {
	size_t batch_size;     /* chunks in a batch */
	size_t chunk_size;     /* bytes of text in a chunk */
	size_t max_bytes;      /* bytes of text in a batch */
	unsigned pages;        /* pages of the document, 0 when not yet known */
};

/* Check a frame body in one streaming pass with O(1) memory, before any
 * tree is built for it: JSON at most 4 levels deep, and for a batch at
 * most batch_size chunks, each a {page, text} with text of at most
 * chunk_size bytes and a page within the document, max_bytes of text in
 * all. 0 when it holds; -EBADMSG with a sentence in err when not. */
int frame_check(const char *body, size_t len, const struct frame_limits *lim,
		char *err, size_t errsz);

/* Write one frame (header + body) to fd, blocking. */
int frame_write(int fd, const void *body, size_t len);

#endif
