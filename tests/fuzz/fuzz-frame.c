/* libFuzzer target: the byte stream a (possibly compromised) worker writes
 * to memsafed (common/frame.c), fed to a frame_reader in pieces of sizes
 * the input chooses, and each frame body parsed as the daemon parses it
 * (json_parse, then the members daemon/job.c reads). Input layout:
 *
 *   byte 0      the reader's size cap: 1 << (byte & 15) bytes (1 B .. 32 KiB)
 *   then        a sequence of pieces, each a length byte n followed by up
 *               to n bytes of stream (n = 0 asks for the next frame
 *               without feeding)
 *
 * Checks: a frame handed out is never longer than the cap and lies inside
 * the buffered bytes; an error (-EMSGSIZE, -EBADMSG) is sticky, as the
 * daemon stops reading after one; the bytes handed out, with their
 * headers, are exactly a prefix of the bytes fed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <string.h>

#include "frame.h"
#include "fuzz.h"
#include "json.h"
#include "util.h"

/* The members memsafed reads from each frame type (daemon/job.c). */
static void read_frame(const char *body, size_t len)
{
	yajl_val v = NULL, chunks;
	const char *t, *s;
	uint64_t n;
	char err[128];

	if (json_parse(body, len, &v, err, sizeof err) < 0) {
		fuzz_assert(memchr(err, '\0', sizeof err) && err[0]);
		return;
	}
	if (json_get_str(v, "t", &t) == 0) {
		json_get_u64(v, "page", &n);
		json_get_u64(v, "pages", &n);
		json_get_u64(v, "mb", &n);
		json_get_str(v, "message", &s);
		json_get_str(v, "reason", &s);
		chunks = json_get(v, "chunks");
		if (YAJL_IS_ARRAY(chunks) && json_get_u64(v, "batch", &n) == 0) {
			for (size_t i = 0; i < chunks->u.array.len; i++) {
				yajl_val c = chunks->u.array.values[i];
				if (json_get_str(c, "text", &s) == 0)
					fuzz_assert(strlen(s) < len);
				json_get_u64(c, "page", &n);
			}
		}
	}
	json_freep(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_reader fr;
	size_t pos = 1, fed = 0, out = 0;
	uint8_t *stream;
	int err = 0;

	if (size < 1)
		return 0;
	stream = malloc(size);
	fuzz_assert(stream);
	frame_reader_init(&fr, (size_t)1 << (data[0] & 15));
	while (pos < size) {
		size_t n = MIN((size_t)data[pos], size - pos - 1);
		const char *body;
		size_t len;
		int r;

		pos++;
		if (n > 0) {
			fuzz_assert(frame_reader_feed(&fr, data + pos, n) == 0);
			memcpy(stream + fed, data + pos, n);
			pos += n;
			fed += n;
		}
		while ((r = frame_reader_next(&fr, &body, &len)) == 1) {
			fuzz_assert(!err);
			fuzz_assert(len > 0 && len <= fr.max);
			fuzz_assert((const uint8_t *)body >= fr.buf + FRAME_HEADER &&
				    (const uint8_t *)body + len <= fr.buf + fr.len);
			fuzz_assert(out + FRAME_HEADER + len <= fed);
			fuzz_assert(((size_t)stream[out] << 24 | (size_t)stream[out + 1] << 16 |
				     (size_t)stream[out + 2] << 8 | stream[out + 3]) == len);
			fuzz_assert(memcmp(body, stream + out + FRAME_HEADER, len) == 0);
			out += FRAME_HEADER + len;
			read_frame(body, len);
		}
		if (r < 0) {
			fuzz_assert(r == -EMSGSIZE || r == -EBADMSG);
			fuzz_assert(!err || err == r);
			err = r;
		}
		fuzz_assert(fr.len <= fr.cap);
	}
	frame_reader_done(&fr);
	free(stream);
	return 0;
}
