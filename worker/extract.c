#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <poppler.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "emit.h"
#include "extract.h"
#include "util.h"

/* PDF allows junk before the header within the first 1024 bytes. */
#define PDF_HEADER_WINDOW 1024

/* The smallest valid PDF: opening it initialises poppler's globals. */
static const char tiny_pdf[] =
	"%PDF-1.4\n"
	"1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
	"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
	"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>endobj\n"
	"trailer<</Root 1 0 R>>\n%%EOF\n";

int extract_preinit(void)
{
	GBytes *bytes = g_bytes_new_static(tiny_pdf, sizeof tiny_pdf - 1);
	PopplerDocument *doc = poppler_document_new_from_bytes(bytes, NULL, NULL);
	PopplerPage *page;

	g_bytes_unref(bytes);
	if (!doc)
		return -EINVAL;
	/* Touch the text path once so everything it loads lazily is loaded. */
	page = poppler_document_get_page(doc, 0);
	if (page) {
		g_free(poppler_page_get_text(page));
		g_object_unref(page);
	}
	g_object_unref(doc);
	return 0;
}

static int batch_out(const struct batch *b, void *arg)
{
	return emit_batch(b);
}

static bool looks_like_pdf(const char *buf, size_t len)
{
	return memmem(buf, MIN(len, (size_t)PDF_HEADER_WINDOW), "%PDF-", 5) != NULL;
}

/* Text is anything without NUL bytes in its first buffer; the chunker
 * replaces invalid UTF-8. */
static bool looks_like_text(const char *buf, size_t len)
{
	return memchr(buf, '\0', len) == NULL;
}

static int extract_text(const struct extract_opts *o, struct chunker *c, char *buf,
			size_t len)
{
	ssize_t n;
	int r;

	for (;;) {
		if ((r = chunker_feed(c, buf, len, 0, now_mono_ms())) < 0)
			return r;
		n = read(o->in_fd, buf, o->buffer_size);
		if (n < 0 && errno == EINTR)
			continue;
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

static int extract_pdf(const struct extract_opts *o, struct chunker *c, char *buf,
		       size_t len)
{
	PopplerDocument *doc;
	GError *err = NULL;
	unsigned pages;
	ssize_t n;
	int r;

	if (o->scratch_fd < 0)
		return emit_fatal("internal", "a PDF needs a scratch fd (--scratch-fd)");
	/* Assemble the document in the scratch file (disk, not memory):
	 * PDF needs random access, the pipe gives none. */
	for (;;) {
		if ((r = write_full(o->scratch_fd, buf, len)) < 0)
			return emit_fatal("internal", "writing the scratch file failed: %s",
					  strerror(-r));
		n = read(o->in_fd, buf, o->buffer_size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return emit_fatal("internal", "reading the document failed: %s",
					  strerror(errno));
		if (n == 0)
			break;
		len = (size_t)n;
	}
	if (lseek(o->scratch_fd, 0, SEEK_SET) < 0)
		return emit_fatal("internal", "scratch fd is not seekable: %s", strerror(errno));
	/* poppler takes ownership of the fd it is given. */
	doc = poppler_document_new_from_fd(dup(o->scratch_fd), NULL, &err);
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

		if ((r = emit_page(i, pages)) < 0)
			goto out;
		page = poppler_document_get_page(doc, (int)i - 1);
		if (!page) {
			emit_page_error(i, "poppler could not load this page");
			continue;
		}
		text = poppler_page_get_text(page);
		/* Free the page before the next one is loaded: peak memory is
		 * one page, not the document. */
		g_object_unref(page);
		if (text) {
			r = chunker_feed(c, text, strlen(text), i, now_mono_ms());
			g_free(text);
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
	size_t len = 0;
	ssize_t n;
	int r;

	if (!buf)
		return emit_fatal("internal", "out of memory");
	/* Fill the first buffer fully (or to EOF) to sniff the format. */
	n = read_full(o->in_fd, buf, o->buffer_size);
	if (n < 0)
		return emit_fatal("internal", "reading the document failed: %s", strerror((int)-n));
	len = (size_t)n;
	if (len == 0)
		return emit_fatal("bad_document", "the document is empty");
	c = chunker_new(&o->chunk, batch_out, NULL);
	if (!c)
		return emit_fatal("internal", "out of memory");
	if (looks_like_pdf(buf, len))
		r = extract_pdf(o, c, buf, len);
	else if (looks_like_text(buf, len))
		r = extract_text(o, c, buf, len);
	else
		r = -EMEDIUMTYPE;
	chunker_free(c);
	if (r == -EMEDIUMTYPE)
		return emit_fatal("bad_document", "not a PDF or text document (binary data "
				  "without a %%PDF- header)");
	if (r == WORKER_EXIT_BAD_DOCUMENT || r == WORKER_EXIT_INTERNAL || r == WORKER_EXIT_SETUP)
		return r;
	if (r < 0)
		return r == -EPIPE ? WORKER_EXIT_IO :
		       emit_fatal("internal", "extraction failed: %s", strerror(-r));
	return WORKER_EXIT_OK;
}
