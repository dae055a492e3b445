/* framecat: decode memsafe-worker's output (length-prefixed JSON frames,
 * see common/frame.h) for shell tests and the benchmark.
 *
 *   framecat [-t] [FILE]   print each frame body on its own line; with -t,
 *                          prefix it with the milliseconds since framecat
 *                          started when the frame was complete
 *   framecat --text [FILE] print only the text of every chunk of every
 *                          batch, one chunk per line, in order, with a
 *                          form feed after each page as pdftotext does
 *
 * Reads standard input without FILE. Exit: 0 at a clean end of input,
 * 1 for a malformed frame, invalid JSON or a truncated last frame, 2 for
 * bad usage or an I/O error. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "frame.h"
#include "json.h"
#include "util.h"

/* Larger than any frame memsafed accepts (6 x max_bytes + 64 KiB). */
#define FRAMECAT_MAX ((size_t)1 << 30)

/* The chunks of a batch frame, one per line, with a form feed after every
 * page (pages without text included, up to the page count of the end
 * frame), as pdftotext prints them. */
static int print_text(const char *body, size_t len)
{
	static uint64_t page = 1;
	_cleanup_json_ yajl_val v = NULL;
	yajl_val chunks;
	const char *t, *text;
	uint64_t pages, p;
	char err[128];

	if (json_parse(body, len, &v, err, sizeof err) < 0) {
		fprintf(stderr, "framecat: invalid JSON in a frame: %s\n", err);
		return -1;
	}
	if (json_get_str(v, "t", &t) < 0)
		return 0;
	if (strcmp(t, "end") == 0 && json_get_u64(v, "pages", &pages) == 0)
		for (; page <= pages; page++)
			putchar('\f');
	if (strcmp(t, "batch") != 0)
		return 0;
	chunks = json_get(v, "chunks");
	if (!YAJL_IS_ARRAY(chunks)) {
		fprintf(stderr, "framecat: a batch without a chunks array\n");
		return -1;
	}
	for (size_t i = 0; i < chunks->u.array.len; i++) {
		yajl_val c = chunks->u.array.values[i];

		if (json_get_str(c, "text", &text) < 0) {
			fprintf(stderr, "framecat: a chunk without text\n");
			return -1;
		}
		if (json_get_u64(c, "page", &p) == 0)
			for (; page < p; page++)
				putchar('\f');
		fputs(text, stdout);
		putchar('\n');
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct frame_reader fr;
	bool stamps = false, text = false;
	uint64_t t0 = now_mono_ms();
	const char *path = NULL;
	int fd = STDIN_FILENO, rc = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-t") == 0)
			stamps = true;
		else if (strcmp(argv[i], "--text") == 0)
			text = true;
		else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "usage: framecat [-t | --text] [FILE]\n");
			return 2;
		} else
			path = argv[i];
	}
	if (path && strcmp(path, "-") != 0 && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		perror(path);
		return 2;
	}
	frame_reader_init(&fr, FRAMECAT_MAX);
	for (;;) {
		ssize_t n = frame_reader_fill(&fr, fd);
		const char *body;
		size_t len;
		int r;

		if (n < 0) {
			fprintf(stderr, "framecat: read: %s\n", strerror((int)-n));
			rc = 2;
			break;
		}
		while ((r = frame_reader_next(&fr, &body, &len)) == 1) {
			if (text) {
				if (print_text(body, len) < 0)
					r = -EBADMSG;
			} else {
				if (stamps)
					printf("%llu ", (unsigned long long)(now_mono_ms() - t0));
				fwrite(body, 1, len, stdout);
				putchar('\n');
			}
			if (r < 0)
				break;
			if (stamps)
				fflush(stdout);
		}
		if (r < 0) {
			if (r != -EBADMSG || !text)
				fprintf(stderr, "framecat: malformed frame: %s\n", strerror(-r));
			rc = 1;
			break;
		}
		if (n == 0) {
			if (fr.len > 0) {
				fprintf(stderr, "framecat: %zu bytes of a truncated frame at the end\n",
					fr.len);
				rc = 1;
			}
			break;
		}
	}
	frame_reader_done(&fr);
	if (fflush(stdout) != 0)
		rc = 2;
	return rc;
}
