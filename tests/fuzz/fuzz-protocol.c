/* libFuzzer target: a request message as memsafed receives it from any
 * local user (common/protocol.c: protocol_parse_request). Beyond "no
 * crash", it checks the contract the daemon relies on: a refusal names a
 * stable code and a sentence, and the error reply built from them is one
 * JSON object carrying that code; an accepted request holds only values
 * inside the documented ranges. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "json.h"
#include "protocol.h"

static bool known_code(const char *code)
{
	static const char *const codes[] = {
		ERR_BAD_REQUEST, ERR_BAD_VERSION, ERR_UNKNOWN_OP, ERR_NOT_FOUND,
		ERR_BAD_FD, ERR_TOO_LARGE, ERR_LIMIT, ERR_REFUSED, ERR_INTERNAL,
	};

	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		if (code && strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

static void check_error_reply(const char *code, const char *msg)
{
	char *reply = protocol_error_reply(code, msg), err[256];
	yajl_val v = NULL, e;
	const char *s;

	fuzz_assert(reply);
	fuzz_assert(json_parse(reply, strlen(reply), &v, err, sizeof err) == 0);
	e = json_get(v, "error");
	fuzz_assert(json_get_str(e, "code", &s) == 0 && strcmp(s, code) == 0);
	fuzz_assert(json_get_str(e, "message", &s) == 0 && *s);
	json_freep(&v);
	free(reply);
}

static void check_options(const struct job_options *o)
{
	fuzz_assert(!o->has_memory_max || o->memory_max >= (1u << 20));
	fuzz_assert(!o->has_batch_size || (o->batch_size >= 1 && o->batch_size <= 100000));
	fuzz_assert(!o->has_priority || (o->priority >= -100 && o->priority <= 100));
	fuzz_assert(memchr(o->kb, '\0', sizeof o->kb));
	fuzz_assert(!o->kb[0] || protocol_kb_valid(o->kb));
	fuzz_assert(!strstr(o->kb, "/") && strcmp(o->kb, "..") != 0);
	fuzz_assert(memchr(o->sink, '\0', sizeof o->sink));
	fuzz_assert(!o->sink[0] || strcmp(o->sink, "mock") == 0 ||
		    strcmp(o->sink, "jsonl") == 0 || strcmp(o->sink, "exec") == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request rq;
	const char *code = "unset";
	char msg[512];
	int r;

	memset(msg, 'x', sizeof msg);
	r = protocol_parse_request((const char *)data, size, &rq, &code, msg, sizeof msg);
	if (r < 0) {
		fuzz_assert(r == -EINVAL);
		fuzz_assert(known_code(code));
		fuzz_assert(memchr(msg, '\0', sizeof msg) && msg[0] && msg[0] != 'x');
		check_error_reply(code, msg);
		return 0;
	}
	fuzz_assert(r == 0 && code == NULL);
	fuzz_assert(size <= PROTOCOL_MAX_MSG);
	fuzz_assert(strcmp(protocol_op_name(rq.op), "?") != 0);
	fuzz_assert(memchr(rq.name, '\0', sizeof rq.name));
	switch (rq.op) {
	case OP_STATUS:
	case OP_CANCEL:
		fuzz_assert(rq.id > 0);
		break;
	case OP_PRESSURE:
		fuzz_assert(rq.target_mb >= 1 && rq.target_mb <= (1u << 20));
		fuzz_assert(rq.hold_ms <= 600000);
		check_options(&rq.opts);
		break;
	case OP_SUBMIT:
		check_options(&rq.opts);
		break;
	case OP_WATCH:
	case OP_UNWATCH:
		fuzz_assert(rq.all || (rq.n_ids >= 1 && rq.n_ids <= PROTOCOL_WATCH_MAX));
		break;
	case OP_LIST:
	case OP_PING:
		break;
	}
	return 0;
}
