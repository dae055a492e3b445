/* Text -> chunks -> batches, the worker's pure logic (no I/O).
 *
 * The chunker takes text as it streams (any split, even inside a UTF-8
 * sequence) tagged with the page it came from, and cuts chunks of at most
 * chunk_size bytes, preferring a paragraph break, then a sentence end,
 * then whitespace, and never splitting a UTF-8 sequence; invalid UTF-8 is
 * replaced with U+FFFD. Consecutive chunks share `overlap` bytes (cut at a
 * character boundary, preferably at whitespace). A chunk belongs to the
 * page its first byte came from; chunks never span pages.
 *
 * The batcher groups chunks into batches closed by whichever comes first:
 * batch_size chunks, max_bytes bytes of chunk text, or max_wait_ms since
 * the batch's first chunk. A batch never exceeds max_bytes: a chunk that
 * would not fit closes the batch first, and a chunk larger than max_bytes
 * on its own is split (at character boundaries) before batching. */
#ifndef MEMSAFE_CHUNKER_H
#define MEMSAFE_CHUNKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct chunk {
	char *text;      /* valid UTF-8, NUL-terminated, owned by the batch */
	size_t len;
	unsigned page;   /* 1-based; 0 for formats without pages */
};

struct batch {
	uint64_t id;          /* 1, 2, ... in emission order (plus first_id-1) */
	struct chunk *chunks;
	size_t n;
	size_t bytes;         /* sum of chunk lengths */
	unsigned first_page, last_page;
};

/* Called with each closed batch; the batch is freed after it returns.
 * A negative return stops the pipeline and is passed back to the caller. */
typedef int (*batch_cb)(const struct batch *b, void *arg);

struct chunker_opts {
	size_t chunk_size;     /* >= 64 */
	size_t overlap;        /* < chunk_size / 2 */
	unsigned batch_size;   /* >= 1 */
	size_t max_bytes;      /* >= 64 */
	uint64_t max_wait_ms;  /* >= 1 */
	uint64_t first_batch_id; /* id of the first batch emitted (resume) */
	/* Resume inside a page: the first skip_chunks chunks of page
	 * skip_page were flushed before and are dropped, not batched. */
	unsigned skip_page;
	size_t skip_chunks;
};

struct chunker;

/* now_ms is the caller's clock (CLOCK_MONOTONIC ms), injectable for tests. */
struct chunker *chunker_new(const struct chunker_opts *o, batch_cb cb, void *arg);
void chunker_free(struct chunker *c);
/* Feed text from page `page`. A change of page ends the current chunk. */
int chunker_feed(struct chunker *c, const char *text, size_t len, unsigned page,
		 uint64_t now_ms);
/* End of a page: cut what is pending into a chunk (without closing the batch). */
int chunker_end_page(struct chunker *c, uint64_t now_ms);
/* Close the batch if max_wait_ms has passed since its first chunk. Called
 * by the worker between reads, so a slow source still flushes on time. */
int chunker_tick(struct chunker *c, uint64_t now_ms);
/* Milliseconds until the open batch must close, or UINT64_MAX if none. */
uint64_t chunker_deadline(const struct chunker *c, uint64_t now_ms);
/* End of document: emit the last chunk and batch. */
int chunker_finish(struct chunker *c, uint64_t now_ms);
/* Totals so far. */
uint64_t chunker_chunks(const struct chunker *c);
uint64_t chunker_batches(const struct chunker *c);

#endif
