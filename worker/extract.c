#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <poppler.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "emit.h"
#include "extract.h"
#include "pagetext.h"
#include "util.h"

/* The most one splice or copy_file_range call moves into the scratch file. */
#define ASSEMBLE_CHUNK (1 << 20)

/* PDF allows junk before the header within the first 1024 bytes. */
#define PDF_HEADER_WINDOW 1024

/* The smallest valid PDF: opening it initialises poppler's globals. */
static const char tiny_pdf[] =
	"%PDF-1.4\n"
	"1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
	"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
	"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>endobj\n"
	"trailer<</Root 1 0 R>>\n%%EOF\n";

/* Held open for the life of the process: poppler-glib creates poppler's
 * GlobalParams when the first document is opened and destroys them when
 * the last one is freed, so the next document would scan the poppler-data
 * directories again, under the filter. */
static PopplerDocument *preinit_doc;

int extract_preinit(void)
{
	GBytes *bytes = g_bytes_new_static(tiny_pdf, sizeof tiny_pdf - 1);
	PopplerPage *page;

	preinit_doc = poppler_document_new_from_bytes(bytes, NULL, NULL);
	g_bytes_unref(bytes);
	if (!preinit_doc)
		return -EINVAL;
	/* Touch the text path once so everything it loads lazily is loaded. */
	page = poppler_document_get_page(preinit_doc, 0);
	if (page) {
		PopplerRectangle *rects = NULL;
		guint n = 0;

		g_free(poppler_page_get_text(page));
		if (poppler_page_get_text_layout(page, &rects, &n))
			g_free(rects);
		g_object_unref(page);
	}
	return 0;
}

static int batch_out(const struct batch *b, void *arg)
{
	return emit_batch(b);
}

enum kind { KIND_PDF, KIND_TEXT, KIND_BINARY, KIND_EMPTY };

/* Read the start of the document into buf and say what it is. A PDF
 * header may follow up to 1024 bytes of junk, as poppler allows, so text
 * is only recognised once that window is full (or at EOF); a source that
 * is slow to fill it is taken for text after max_wait_ms, so that its
 * first batch is not held back. Anything with a NUL byte before a PDF
 * header is binary: the chunker would replace invalid UTF-8, but NULs
 * mean the input is not text at all. */
static int sniff(const struct extract_opts *o, char *buf, size_t *ret_len, enum kind *ret)
{
	size_t len = 0;
	uint64_t first_ms = 0;

	for (;;) {
		struct pollfd p = { .fd = o->in_fd, .events = POLLIN };
		int timeout = -1, r;
		ssize_t n;

		if (len > 0) {
			uint64_t waited = now_mono_ms() - first_ms;

			if (memmem(buf, MIN(len, (size_t)PDF_HEADER_WINDOW), "%PDF-", 5))
				*ret = KIND_PDF;
			else if (memchr(buf, '\0', len))
				*ret = KIND_BINARY;
			else if (len >= PDF_HEADER_WINDOW || waited >= o->chunk.max_wait_ms)
				*ret = KIND_TEXT;
			else
				timeout = (int)MIN(o->chunk.max_wait_ms - waited, (uint64_t)INT_MAX);
			if (timeout < 0) {
				*ret_len = len;
				return 0;
			}
		}
		r = poll(&p, 1, timeout);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		n = read(o->in_fd, buf + len, o->buffer_size - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			*ret = len ? (memchr(buf, '\0', len) ? KIND_BINARY : KIND_TEXT) : KIND_EMPTY;
			*ret_len = len;
			return 0;
		}
		if (len == 0)
			first_ms = now_mono_ms();
		len += (size_t)n;
	}
}

/* Wait until fd has input, or until the open batch is due (and then
 * close it), so that a slow source still gets its batches on time. */
static int wait_input(int fd, struct chunker *c)
{
	for (;;) {
		uint64_t now = now_mono_ms(), due;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r;

		if ((r = chunker_tick(c, now)) < 0)
			return r;
		due = chunker_deadline(c, now);
		r = poll(&p, 1, due == UINT64_MAX ? -1 : (int)MIN(due, (uint64_t)INT_MAX));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static int extract_text(const struct extract_opts *o, struct chunker *c, char *buf,
			size_t len)
{
	ssize_t n;
	int r;

	for (;;) {
		if ((r = chunker_feed(c, buf, len, 0, now_mono_ms())) < 0)
			return r;
		do {
			if ((r = wait_input(o->in_fd, c)) < 0)
				return r;
			n = read(o->in_fd, buf, o->buffer_size);
		} while (n < 0 && (errno == EINTR || errno == EAGAIN));
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len = (size_t)n;
	}
	if ((r = chunker_finish(c, now_mono_ms())) < 0)
		return r;
	return emit_end(0, chunker_chunks(c), chunker_batches(c));
}

static const char *pdf_error_hint(const GError *err)
{
	if (err->domain == POPPLER_ERROR && err->code == POPPLER_ERROR_ENCRYPTED)
		return "the PDF is encrypted and needs a password; decrypt it first "
		       "(e.g. qpdf --decrypt)";
	return NULL;
}

/* Copy the document into the scratch file: buf[0, len) first, then the
 * rest of the input, in the kernel where it can be done (splice from a
 * pipe, as memsafed gives it, copy_file_range from a file), since a PDF
 * can be tens of MB and every pass through user space costs. */
static int assemble(const struct extract_opts *o, char *buf, size_t len)
{
	enum { COPY_SPLICE, COPY_RANGE, COPY_RW } how = COPY_RW;
	struct stat st;
	ssize_t n;
	int r;

	if ((r = write_full(o->scratch_fd, buf, len)) < 0)
		return r;
	if (fstat(o->in_fd, &st) == 0)
		how = S_ISFIFO(st.st_mode) ? COPY_SPLICE : S_ISREG(st.st_mode) ? COPY_RANGE : COPY_RW;
	for (;;) {
		if (how == COPY_SPLICE)
			n = splice(o->in_fd, NULL, o->scratch_fd, NULL, ASSEMBLE_CHUNK, SPLICE_F_MOVE);
		else if (how == COPY_RANGE)
			n = copy_file_range(o->in_fd, NULL, o->scratch_fd, NULL, ASSEMBLE_CHUNK, 0);
		else if ((n = read(o->in_fd, buf, o->buffer_size)) > 0 &&
			 (r = write_full(o->scratch_fd, buf, (size_t)n)) < 0)
			return r;
		if (n == 0)
			return 0;
		if (n > 0 || errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			/* A non-blocking input: wait for it. */
			struct pollfd p = { .fd = o->in_fd, .events = POLLIN };

			if (poll(&p, 1, -1) < 0 && errno != EINTR)
				return -errno;
			continue;
		}
		/* Nothing copied yet by this call: the kernel cannot do it
		 * for this pair of files; do it by hand. */
		if (how != COPY_RW && (errno == EINVAL || errno == EXDEV ||
				       errno == EOPNOTSUPP || errno == ENOSYS)) {
			how = COPY_RW;
			continue;
		}
		return -errno;
	}
}

/* The scratch file, mapped read-only and handed to poppler whole: its own
 * file stream reads 256 bytes a system call (25,000 of them for 1,000
 * pages, a sixth of the extraction time). The pages of the mapping are
 * the page cache's, already charged to the job's cgroup; so that the
 * worker's RSS does not count them as they are touched, they leave its
 * page tables every DROP_EVERY_PAGES pages (dropping after every page
 * costs as much in page faults as the reads it saves). */
#define DROP_EVERY_PAGES 64

struct scratch_map {
	GBytes *bytes;  /* owns the mapping: unmapped with the last reference */
	void *addr;
	size_t len;
};

static void unmap_bytes(gpointer arg)
{
	struct scratch_map *m = arg;

	munmap(m->addr, m->len);
	g_free(m);
}

static int map_scratch(int fd, struct scratch_map *ret)
{
	struct scratch_map *m;
	struct stat st;
	void *addr;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size <= 0 || (uint64_t)st.st_size > SIZE_MAX)
		return -EINVAL;
	addr = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (addr == MAP_FAILED)
		return -errno;
	m = g_new(struct scratch_map, 1);
	*m = (struct scratch_map){ NULL, addr, (size_t)st.st_size };
	*ret = *m;
	ret->bytes = g_bytes_new_with_free_func(addr, m->len, unmap_bytes, m);
	return 0;
}

/* PopplerRectangle and pagetext_box are the same four doubles. */
_Static_assert(sizeof(PopplerRectangle) == sizeof(struct pagetext_box) &&
	       offsetof(PopplerRectangle, x1) == offsetof(struct pagetext_box, x1) &&
	       offsetof(PopplerRectangle, y1) == offsetof(struct pagetext_box, y1) &&
	       offsetof(PopplerRectangle, x2) == offsetof(struct pagetext_box, x2) &&
	       offsetof(PopplerRectangle, y2) == offsetof(struct pagetext_box, y2),
	       "PopplerRectangle is not laid out as struct pagetext_box");

/* The text of a page, its words apart where pdftotext has them apart
 * (see pagetext.h): poppler's selection text, mended with the box of
 * every character. Returns 0 with the text in *ret (free it; NULL
 * when the page has none), or -ENOMEM. */
static int page_text(PopplerPage *page, char **ret, size_t *ret_len)
{
	PopplerRectangle *rects = NULL, area;
	guint nrects = 0;
	char *text, *fixed;
	size_t len, flen;
	double w = 0, h = 0;
	int r;

	*ret = NULL;
	*ret_len = 0;
	/* Not the page's rectangle, as poppler_page_get_text asks for, but
	 * the page's longer side more on every side (a /Rotate'd page's text
	 * runs along either side): poppler keeps the characters
	 * that start on the page, and a selection that ends at the page's
	 * edge leaves out those that run past it ("0.2" in a code listing
	 * that overflows the margin loses its "2"), one that starts at the
	 * page's corner can miss text above or left of it. */
	poppler_page_get_size(page, &w, &h);
	w = MAX(w, h);  /* whichever way the page is turned */
	area = (PopplerRectangle){ -w, -w, 2 * w, 2 * w };
	text = poppler_page_get_text_for_area(page, &area);
	if (!text)
		return 0;
	len = strlen(text);
	if (len == 0) {
		g_free(text);
		return 0;
	}
	if (!poppler_page_get_text_layout_for_area(page, &area, &rects, &nrects))
		nrects = 0;
	r = pagetext_fix(text, len, (const struct pagetext_box *)rects, nrects, &fixed, &flen);
	/* Boxes that do not match the text (a character poppler could not
	 * map to UTF-8, a NUL that cut the text short): join hyphenated
	 * lines only. */
	if (r == -EINVAL)
		r = pagetext_fix(text, len, NULL, 0, &fixed, &flen);
	g_free(rects);
	g_free(text);
	if (r < 0)
		return r;
	*ret = fixed;
	*ret_len = flen;
	return 0;
}

static int extract_pdf(const struct extract_opts *o, struct chunker *c, char *buf,
		       size_t len)
{
	struct scratch_map map = { NULL, NULL, 0 };
	PopplerDocument *doc;
	GError *err = NULL;
	unsigned pages;
	ssize_t n;
	int r;

	if (o->scratch_fd < 0)
		return emit_fatal("internal", "a PDF needs a scratch fd (--scratch-fd)");
	/* Assemble the document in the scratch file (disk, not memory):
	 * PDF needs random access, the pipe gives none. */
	r = assemble(o, buf, len);
	if (r == -EFBIG)
		return emit_fatal("bad_document", "the document is larger than the "
				  "worker's file size limit (--max-file-size)");
	if (r < 0)
		return emit_fatal("internal", "copying the document into the scratch file "
				  "failed: %s", strerror(-r));
	if ((r = map_scratch(o->scratch_fd, &map)) < 0)
		return emit_fatal("internal", "cannot map the scratch file: %s", strerror(-r));
	/* The document takes its own reference to the bytes. */
	doc = poppler_document_new_from_bytes(map.bytes, NULL, &err);
	g_bytes_unref(map.bytes);
	if (!doc) {
		const char *hint = pdf_error_hint(err);
		r = hint ? emit_fatal("bad_document", "%s", hint)
			 : emit_fatal("bad_document", "not a readable PDF: %s", err->message);
		g_error_free(err);
		return r;
	}
	n = poppler_document_get_n_pages(doc);
	if (n <= 0) {
		g_object_unref(doc);
		return emit_fatal("bad_document", "the PDF has no pages");
	}
	pages = (unsigned)n;
	emit_doc(pages);
	for (unsigned i = MAX(o->first_page, 1u); i <= pages; i++) {
		PopplerPage *page;
		char *text;
		size_t tlen;

		if ((r = emit_page(i, pages)) < 0)
			goto out;
		page = poppler_document_get_page(doc, (int)i - 1);
		if (!page) {
			emit_page_error(i, "poppler could not load this page");
			continue;
		}
		r = page_text(page, &text, &tlen);
		/* Free the page before the next one is loaded: peak memory is
		 * one page, not the document. */
		g_object_unref(page);
		if (r < 0)
			goto out;
		if (i % DROP_EVERY_PAGES == 0)
			madvise(map.addr, map.len, MADV_DONTNEED);
		if (text) {
			r = chunker_feed(c, text, tlen, i, now_mono_ms());
			free(text);
			if (r < 0 || (r = chunker_end_page(c, now_mono_ms())) < 0)
				goto out;
		}
		if ((r = chunker_tick(c, now_mono_ms())) < 0)
			goto out;
	}
	if ((r = chunker_finish(c, now_mono_ms())) < 0)
		goto out;
	r = emit_end(pages, chunker_chunks(c), chunker_batches(c));
out:
	g_object_unref(doc);
	return r;
}

int extract_run(const struct extract_opts *o)
{
	_cleanup_free_ char *buf = malloc(o->buffer_size);
	struct chunker *c;
	enum kind kind = KIND_EMPTY;
	size_t len = 0;
	int r;

	if (!buf)
		return emit_fatal("internal", "out of memory");
	r = sniff(o, buf, &len, &kind);
	if (r < 0)
		return emit_fatal("internal", "reading the document failed: %s", strerror(-r));
	if (kind == KIND_EMPTY)
		return emit_fatal("bad_document", "the document is empty");
	if (kind == KIND_BINARY)
		return emit_fatal("bad_document", "not a PDF or text document (binary data "
				  "without a %%PDF- header)");
	c = chunker_new(&o->chunk, batch_out, NULL);
	if (!c)
		return emit_fatal("internal", "out of memory");
	r = kind == KIND_PDF ? extract_pdf(o, c, buf, len) : extract_text(o, c, buf, len);
	chunker_free(c);
	if (r == WORKER_EXIT_BAD_DOCUMENT || r == WORKER_EXIT_INTERNAL || r == WORKER_EXIT_SETUP)
		return r;
	if (r < 0)
		return r == -EPIPE ? WORKER_EXIT_IO :
		       emit_fatal("internal", "extraction failed: %s", strerror(-r));
	return WORKER_EXIT_OK;
}
