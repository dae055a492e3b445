/* Unit tests for common/protocol.c: request parsing and validation, error
 * replies, knowledge-base names. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "json.h"
#include "protocol.h"
#include "util.h"
#include "tap.h"

/* A literal with its exact length, embedded NUL bytes included. */
#define LIT(s) s, sizeof(s) - 1

/* ---- valid requests ---------------------------------------------------- */

static void test_valid(void)
{
	struct request rq;
	const char *code = "unset";
	char msg[256] = "";
	int r;

	/* submit with every option */
	memset(&rq, 0xaa, sizeof rq);
	r = protocol_parse_request(LIT("{\"v\":1,\"op\":\"submit\",\"name\":\"report.pdf\","
		"\"kb\":\"team-docs_2.0\",\"sink\":\"jsonl\",\"memory_max\":536870912,"
		"\"batch_size\":20,\"max_bytes\":5000000,\"max_wait_ms\":5000,"
		"\"timeout_ms\":600000,\"priority\":-7}"), &rq, &code, msg, sizeof msg);
	is_int(r, 0, "submit with every option parses (%s)", msg);
	ok(code == NULL, "success leaves the code NULL");
	is_int(rq.op, OP_SUBMIT, "submit: op");
	is_str(rq.name, "report.pdf", "submit: name");
	is_str(rq.opts.kb, "team-docs_2.0", "submit: kb");
	is_str(rq.opts.sink, "jsonl", "submit: sink");
	ok(rq.opts.has_memory_max && rq.opts.memory_max == 536870912, "submit: memory_max");
	ok(rq.opts.has_batch_size && rq.opts.batch_size == 20, "submit: batch_size");
	ok(rq.opts.has_max_bytes && rq.opts.max_bytes == 5000000, "submit: max_bytes");
	ok(rq.opts.has_max_wait_ms && rq.opts.max_wait_ms == 5000, "submit: max_wait_ms");
	ok(rq.opts.has_timeout && rq.opts.timeout_ms == 600000, "submit: timeout_ms");
	ok(rq.opts.has_priority && rq.opts.priority == -7, "submit: priority");

	/* submit with nothing: every has_* false, strings empty */
	memset(&rq, 0xaa, sizeof rq);
	r = protocol_parse_request(LIT("{\"v\":1,\"op\":\"submit\"}"), &rq, &code, msg, sizeof msg);
	is_int(r, 0, "bare submit parses (%s)", msg);
	ok(!rq.opts.has_memory_max && !rq.opts.has_batch_size && !rq.opts.has_max_bytes &&
	   !rq.opts.has_max_wait_ms && !rq.opts.has_priority && !rq.opts.has_timeout,
	   "bare submit: no option marked as given");
	ok(rq.name[0] == '\0' && rq.opts.kb[0] == '\0' && rq.opts.sink[0] == '\0',
	   "bare submit: name, kb and sink empty");

	/* boundaries that are still valid */
	r = protocol_parse_request(LIT("{\"v\":1,\"op\":\"submit\",\"memory_max\":1048576,"
		"\"batch_size\":1,\"priority\":100,\"sink\":\"mock\"}"), &rq, &code, msg, sizeof msg);
	is_int(r, 0, "submit at the lower bounds parses (%s)", msg);
	ok(rq.opts.memory_max == 1048576 && rq.opts.batch_size == 1 &&
	   rq.opts.priority == 100, "submit: 1 MiB, batch 1, priority 100 kept");
	r = protocol_parse_request(LIT("{\"v\":1,\"op\":\"submit\",\"priority\":-100,"
		"\"sink\":\"exec\"}"), &rq, &code, msg, sizeof msg);
	ok(r == 0 && rq.opts.priority == -100 && strcmp(rq.opts.sink, "exec") == 0,
	   "submit: priority -100 and sink exec accepted");

	/* gpu_memory_max: bytes, 0 (no limit of its own) allowed */
	r = protocol_parse_request(LIT("{\"v\":1,\"op\":\"submit\",\"gpu_memory_max\":1073741824}"),
				   &rq, &code, msg, sizeof msg);
	ok(r == 0 && rq.opts.has_gpu_memory_max && rq.opts.gpu_memory_max == 1073741824,
	   "submit: gpu_memory_max");
	r = protocol_parse_request(LIT("{\"v\":1,\"op\":\"submit\",\"gpu_memory_max\":0}"),
				   &rq, &code, msg, sizeof msg);
	ok(r == 0 && rq.opts.has_gpu_memory_max && rq.opts.gpu_memory_max == 0,
	   "submit: gpu_memory_max 0 is given, meaning no limit of its own");
	r = protocol_parse_request(LIT("{\"v\":1,\"op\":\"submit\",\"gpu_memory_max\":\"1G\"}"),
				   &rq, &code, msg, sizeof msg);
	ok(r < 0 && strstr(msg, "gpu_memory_max"), "submit: a gpu_memory_max string is refused (%s)",
	   msg);

	/* status and cancel with an id */
	memset(&rq, 0xaa, sizeof rq);
	r = protocol_parse_request(LIT("{\"v\":1,\"op\":\"status\",\"id\":42}"), &rq, &code,
				   msg, sizeof msg);
	ok(r == 0 && rq.op == OP_STATUS && rq.id == 42, "status id 42");
	r = protocol_parse_request(LIT("{\"op\":\"cancel\",\"id\":7,\"v\":1}"), &rq, &code,
				   msg, sizeof msg);
	ok(r == 0 && rq.op == OP_CANCEL && rq.id == 7, "cancel id 7 (member order free)");
	r = protocol_parse_request(LIT("{\"v\":1,\"op\":\"status\",\"id\":9223372036854775807}"),
				   &rq, &code, msg, sizeof msg);
	ok(r == 0 && rq.id == UINT64_C(9223372036854775807), "status: id 2^63-1 accepted");

	/* list, ping */
	memset(&rq, 0xaa, sizeof rq);
	r = protocol_parse_request(LIT("{\"v\":1,\"op\":\"list\"}"), &rq, &code, msg, sizeof msg);
	ok(r == 0 && rq.op == OP_LIST, "list");
	r = protocol_parse_request(LIT(" {\"v\" : 1 , \"op\" : \"ping\" }\n"), &rq, &code,
				   msg, sizeof msg);
	ok(r == 0 && rq.op == OP_PING, "ping (with whitespace around)");
	r = protocol_parse_request(LIT("{\"v\":1,\"op\":\"ping\",\"extra\":{\"a\":[1,2]},"
		"\"id\":\"ignored\"}"), &rq, &code, msg, sizeof msg);
	ok(r == 0 && rq.op == OP_PING, "ping: unknown members are ignored");

	/* simulate_pressure */
	memset(&rq, 0xaa, sizeof rq);
	r = protocol_parse_request(LIT("{\"v\":1,\"op\":\"simulate_pressure\",\"target_mb\":512,"
		"\"hold_ms\":1500,\"memory_max\":268435456}"), &rq, &code, msg, sizeof msg);
	is_int(r, 0, "simulate_pressure parses (%s)", msg);
	is_int(rq.op, OP_PRESSURE, "simulate_pressure: op");
	is_int(rq.target_mb, 512, "simulate_pressure: target_mb");
	is_int(rq.hold_ms, 1500, "simulate_pressure: hold_ms");
	ok(rq.opts.has_memory_max && rq.opts.memory_max == 268435456,
	   "simulate_pressure: memory_max");
	memset(&rq, 0xaa, sizeof rq);
	r = protocol_parse_request(LIT("{\"v\":1,\"op\":\"simulate_pressure\",\"target_mb\":1}"),
				   &rq, &code, msg, sizeof msg);
	ok(r == 0 && rq.target_mb == 1 && rq.hold_ms == 0 && !rq.opts.has_memory_max,
	   "simulate_pressure: hold_ms defaults to 0, memory_max unset");

	/* op names round-trip */
	is_str(protocol_op_name(OP_SUBMIT), "submit", "op name submit");
	is_str(protocol_op_name(OP_STATUS), "status", "op name status");
	is_str(protocol_op_name(OP_LIST), "list", "op name list");
	is_str(protocol_op_name(OP_CANCEL), "cancel", "op name cancel");
	is_str(protocol_op_name(OP_PRESSURE), "simulate_pressure", "op name simulate_pressure");
	is_str(protocol_op_name(OP_PING), "ping", "op name ping");
}

/* ---- rejections -------------------------------------------------------- */

struct reject_case {
	const char *what;
	const char *json;
	size_t len;
	const char *code;
	const char *mention; /* the message must contain this */
};

static const struct reject_case reject_cases[] = {
	{ "not JSON", LIT("hello"), ERR_BAD_REQUEST, NULL },
	{ "truncated JSON", LIT("{\"v\":1,\"op\":\"ping\""), ERR_BAD_REQUEST, NULL },
	{ "empty", LIT(""), ERR_BAD_REQUEST, "empty" },
	{ "NUL byte inside", LIT("{\"v\":1,\"op\":\"ping\"}\0"), ERR_BAD_REQUEST, "NUL" },
	{ "NUL byte in a string", LIT("{\"v\":1,\"op\":\"pi\0ng\"}"), ERR_BAD_REQUEST, "NUL" },
	{ "array instead of object", LIT("[{\"v\":1,\"op\":\"ping\"}]"),
	  ERR_BAD_REQUEST, "object" },
	{ "bare number", LIT("1"), ERR_BAD_REQUEST, "object" },
	{ "missing v", LIT("{\"op\":\"ping\"}"), ERR_BAD_VERSION, "\"v\"" },
	{ "v=2", LIT("{\"v\":2,\"op\":\"ping\"}"), ERR_BAD_VERSION, "\"v\"" },
	{ "v=0", LIT("{\"v\":0,\"op\":\"ping\"}"), ERR_BAD_VERSION, "\"v\"" },
	{ "v as string", LIT("{\"v\":\"1\",\"op\":\"ping\"}"), ERR_BAD_VERSION, "\"v\"" },
	{ "v as float", LIT("{\"v\":1.0,\"op\":\"ping\"}"), ERR_BAD_VERSION, "\"v\"" },
	{ "v null", LIT("{\"v\":null,\"op\":\"ping\"}"), ERR_BAD_VERSION, "\"v\"" },
	{ "missing op", LIT("{\"v\":1}"), ERR_BAD_REQUEST, "\"op\"" },
	{ "op a number", LIT("{\"v\":1,\"op\":5}"), ERR_BAD_REQUEST, "\"op\"" },
	{ "op an array", LIT("{\"v\":1,\"op\":[\"ping\"]}"), ERR_BAD_REQUEST, "\"op\"" },
	{ "unknown op", LIT("{\"v\":1,\"op\":\"frobnicate\"}"), ERR_UNKNOWN_OP, "frobnicate" },
	{ "op in upper case", LIT("{\"v\":1,\"op\":\"PING\"}"), ERR_UNKNOWN_OP, "PING" },
	{ "op empty", LIT("{\"v\":1,\"op\":\"\"}"), ERR_UNKNOWN_OP, "unknown op" },
	{ "status without id", LIT("{\"v\":1,\"op\":\"status\"}"), ERR_BAD_REQUEST, "\"id\"" },
	{ "status id 0", LIT("{\"v\":1,\"op\":\"status\",\"id\":0}"),
	  ERR_BAD_REQUEST, "\"id\"" },
	{ "cancel id negative", LIT("{\"v\":1,\"op\":\"cancel\",\"id\":-3}"),
	  ERR_BAD_REQUEST, "\"id\"" },
	{ "status id string", LIT("{\"v\":1,\"op\":\"status\",\"id\":\"42\"}"),
	  ERR_BAD_REQUEST, "\"id\"" },
	{ "status id float", LIT("{\"v\":1,\"op\":\"status\",\"id\":4.5}"),
	  ERR_BAD_REQUEST, "\"id\"" },
	{ "status id 1e3", LIT("{\"v\":1,\"op\":\"status\",\"id\":1e3}"),
	  ERR_BAD_REQUEST, "\"id\"" },
	{ "status id 2^63", LIT("{\"v\":1,\"op\":\"status\",\"id\":9223372036854775808}"),
	  ERR_BAD_REQUEST, "\"id\"" },
	{ "cancel id 2^64", LIT("{\"v\":1,\"op\":\"cancel\",\"id\":18446744073709551616}"),
	  ERR_BAD_REQUEST, "\"id\"" },
	{ "memory_max 1 MiB - 1", LIT("{\"v\":1,\"op\":\"submit\",\"memory_max\":1048575}"),
	  ERR_BAD_REQUEST, "\"memory_max\"" },
	{ "memory_max as string", LIT("{\"v\":1,\"op\":\"submit\",\"memory_max\":\"6G\"}"),
	  ERR_BAD_REQUEST, "\"memory_max\"" },
	{ "batch_size 0", LIT("{\"v\":1,\"op\":\"submit\",\"batch_size\":0}"),
	  ERR_BAD_REQUEST, "\"batch_size\"" },
	{ "max_bytes negative", LIT("{\"v\":1,\"op\":\"submit\",\"max_bytes\":-1}"),
	  ERR_BAD_REQUEST, "\"max_bytes\"" },
	{ "max_wait_ms above an hour",
	  LIT("{\"v\":1,\"op\":\"submit\",\"max_wait_ms\":3600001}"),
	  ERR_BAD_REQUEST, "\"max_wait_ms\"" },
	{ "timeout_ms 0", LIT("{\"v\":1,\"op\":\"submit\",\"timeout_ms\":0}"),
	  ERR_BAD_REQUEST, "\"timeout_ms\"" },
	{ "priority 101", LIT("{\"v\":1,\"op\":\"submit\",\"priority\":101}"),
	  ERR_BAD_REQUEST, "\"priority\"" },
	{ "priority -101", LIT("{\"v\":1,\"op\":\"submit\",\"priority\":-101}"),
	  ERR_BAD_REQUEST, "\"priority\"" },
	{ "priority string", LIT("{\"v\":1,\"op\":\"submit\",\"priority\":\"5\"}"),
	  ERR_BAD_REQUEST, "\"priority\"" },
	{ "priority huge", LIT("{\"v\":1,\"op\":\"submit\",\"priority\":18446744073709551616}"),
	  ERR_BAD_REQUEST, "\"priority\"" },
	{ "kb ../x", LIT("{\"v\":1,\"op\":\"submit\",\"kb\":\"../x\"}"),
	  ERR_BAD_REQUEST, "\"kb\"" },
	{ "kb .hidden", LIT("{\"v\":1,\"op\":\"submit\",\"kb\":\".hidden\"}"),
	  ERR_BAD_REQUEST, "\"kb\"" },
	{ "kb empty", LIT("{\"v\":1,\"op\":\"submit\",\"kb\":\"\"}"),
	  ERR_BAD_REQUEST, "\"kb\"" },
	{ "kb with a slash", LIT("{\"v\":1,\"op\":\"submit\",\"kb\":\"a/b\"}"),
	  ERR_BAD_REQUEST, "\"kb\"" },
	{ "kb a number", LIT("{\"v\":1,\"op\":\"submit\",\"kb\":5}"),
	  ERR_BAD_REQUEST, "\"kb\"" },
	{ "sink ftp", LIT("{\"v\":1,\"op\":\"submit\",\"sink\":\"ftp\"}"),
	  ERR_BAD_REQUEST, "\"sink\"" },
	{ "sink empty", LIT("{\"v\":1,\"op\":\"submit\",\"sink\":\"\"}"),
	  ERR_BAD_REQUEST, "\"sink\"" },
	{ "sink longer than its buffer",
	  LIT("{\"v\":1,\"op\":\"submit\",\"sink\":\"jsonljsonljsonljsonl\"}"),
	  ERR_BAD_REQUEST, "\"sink\"" },
	{ "name a number", LIT("{\"v\":1,\"op\":\"submit\",\"name\":1}"),
	  ERR_BAD_REQUEST, "\"name\"" },
	{ "invalid UTF-8 in a string",
	  LIT("{\"v\":1,\"op\":\"submit\",\"name\":\"caf\xc3\x28.pdf\"}"),
	  ERR_BAD_REQUEST, NULL },
	{ "lone UTF-8 continuation byte",
	  LIT("{\"v\":1,\"op\":\"submit\",\"kb\":\"a\x80\"}"), ERR_BAD_REQUEST, NULL },
	{ "simulate_pressure without target_mb",
	  LIT("{\"v\":1,\"op\":\"simulate_pressure\",\"hold_ms\":10}"),
	  ERR_BAD_REQUEST, "\"target_mb\"" },
	{ "simulate_pressure target_mb 0",
	  LIT("{\"v\":1,\"op\":\"simulate_pressure\",\"target_mb\":0}"),
	  ERR_BAD_REQUEST, "\"target_mb\"" },
	{ "simulate_pressure hold_ms above 10 min",
	  LIT("{\"v\":1,\"op\":\"simulate_pressure\",\"target_mb\":1,\"hold_ms\":600001}"),
	  ERR_BAD_REQUEST, "\"hold_ms\"" },
	{ "simulate_pressure memory_max too small",
	  LIT("{\"v\":1,\"op\":\"simulate_pressure\",\"target_mb\":1,\"memory_max\":1}"),
	  ERR_BAD_REQUEST, "\"memory_max\"" },
};

/* Parse and expect a rejection with code; ret must stay untouched. */
static void expect_reject(const char *what, const char *json, size_t len, const char *want,
			  const char *mention)
{
	struct request rq, before;
	const char *code = NULL;
	char msg[512];
	int r;

	memset(&rq, 0x5a, sizeof rq);
	before = rq;
	memset(msg, 0, sizeof msg);
	r = protocol_parse_request(json, len, &rq, &code, msg, sizeof msg);
	is_int(r, -EINVAL, "%s: rejected", what);
	is_str(code, want, "%s: code", what);
	ok(msg[0] != '\0' && !strchr(msg, '\n'), "%s: one-line message \"%s\"", what, msg);
	if (mention)
		ok(strstr(msg, mention) != NULL, "%s: message mentions %s", what, mention);
	ok(memcmp(&rq, &before, sizeof rq) == 0, "%s: request untouched", what);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		abort();
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_reject(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(reject_cases); i++) {
		const struct reject_case *c = &reject_cases[i];
		expect_reject(c->what, c->json, c->len, c->code, c->mention);
	}
	/* yajl decodes \u0000 into the C string it hands back, which would
	 * cut the value at the NUL and leave the rest unchecked: refused. */
	expect_reject("op \"ping\\u0000x\"", LIT("{\"v\":1,\"op\":\"ping\\u0000x\"}"),
		      ERR_BAD_REQUEST, "u0000");
	expect_reject("kb \"ok\\u0000../x\"",
		      LIT("{\"v\":1,\"op\":\"submit\",\"kb\":\"ok\\u0000../x\"}"),
		      ERR_BAD_REQUEST, "u0000");
	expect_reject("sink \"mock\\u0000<long tail>\"",
		      LIT("{\"v\":1,\"op\":\"submit\",\"sink\":\"mock\\u0000zzzzzzzzzzzzzzzzzzzz\"}"),
		      ERR_BAD_REQUEST, "u0000");
}

/* Requests whose text is made at run time: lengths and depths at the
 * limits, accepted at the limit and refused one past it. */
static void test_limits(void)
{
	struct request rq;
	const char *code;
	char msg[256];
	char *s, *t;
	int r;

	/* name: 255 bytes fit, 256 do not */
	t = repeat('n', PROTOCOL_NAME_MAX);
	if (asprintf(&s, "{\"v\":1,\"op\":\"submit\",\"name\":\"%s\"}", t) < 0)
		abort();
	r = protocol_parse_request(s, strlen(s), &rq, &code, msg, sizeof msg);
	ok(r == 0 && strlen(rq.name) == PROTOCOL_NAME_MAX, "name of 255 bytes accepted");
	free(s);
	free(t);
	t = repeat('n', PROTOCOL_NAME_MAX + 1);
	if (asprintf(&s, "{\"v\":1,\"op\":\"submit\",\"name\":\"%s\"}", t) < 0)
		abort();
	expect_reject("name of 256 bytes", s, strlen(s), ERR_BAD_REQUEST, NULL);
	free(s);
	free(t);

	/* name: valid multibyte UTF-8 passes through untouched */
	r = protocol_parse_request(LIT("{\"v\":1,\"op\":\"submit\",\"name\":\"Gr\xc3\xbc\xc3\x9f"
		"e \xe2\x82\xac.pdf\"}"), &rq, &code, msg, sizeof msg);
	ok(r == 0 && strcmp(rq.name, "Gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac.pdf") == 0,
	   "name in valid UTF-8 accepted byte for byte");

	/* kb: 64 characters fit, 65 do not */
	t = repeat('k', PROTOCOL_KB_MAX);
	if (asprintf(&s, "{\"v\":1,\"op\":\"submit\",\"kb\":\"%s\"}", t) < 0)
		abort();
	r = protocol_parse_request(s, strlen(s), &rq, &code, msg, sizeof msg);
	ok(r == 0 && strcmp(rq.opts.kb, t) == 0, "kb of 64 characters accepted");
	free(s);
	free(t);
	t = repeat('k', PROTOCOL_KB_MAX + 1);
	if (asprintf(&s, "{\"v\":1,\"op\":\"submit\",\"kb\":\"%s\"}", t) < 0)
		abort();
	expect_reject("kb of 65 characters", s, strlen(s), ERR_BAD_REQUEST, NULL);
	free(s);
	free(t);

	/* nesting: the request object plus 15 arrays is depth 16 (accepted),
	 * plus 16 arrays is 17 (refused before yajl sees it) */
	{
		char *open = repeat('[', JSON_MAX_DEPTH - 1), *close = repeat(']', JSON_MAX_DEPTH - 1);
		if (asprintf(&s, "{\"v\":1,\"op\":\"ping\",\"x\":%s%s}", open, close) < 0)
			abort();
		r = protocol_parse_request(s, strlen(s), &rq, &code, msg, sizeof msg);
		ok(r == 0 && rq.op == OP_PING, "nesting depth 16 accepted (%s)", r ? msg : "ok");
		free(open);
		free(close);
		free(s);
		open = repeat('[', JSON_MAX_DEPTH);
		close = repeat(']', JSON_MAX_DEPTH);
		if (asprintf(&s, "{\"v\":1,\"op\":\"ping\",\"x\":%s%s}", open, close) < 0)
			abort();
		expect_reject("nesting depth 17", s, strlen(s), ERR_BAD_REQUEST, NULL);
		r = protocol_parse_request(s, strlen(s), &rq, &code, msg, sizeof msg);
		ok(r == -EINVAL && strstr(msg, "nested"), "depth 17 says it is nested too deep: %s",
		   msg);
		free(open);
		free(close);
		free(s);
	}
	/* brackets inside strings, escaped quotes included, are not nesting */
	t = repeat('[', 40);
	if (asprintf(&s, "{\"v\":1,\"op\":\"ping\",\"s\":\"\\\"%s\\\\\",\"u\":\"{{{{{{{{{{{{{{{{{{\"}",
		     t) < 0)
		abort();
	r = protocol_parse_request(s, strlen(s), &rq, &code, msg, sizeof msg);
	ok(r == 0, "brackets and escaped quotes inside strings do not count as depth (%s)",
	   r ? msg : "ok");
	free(s);
	free(t);
	/* and a closing bracket in a string does not hide real depth */
	{
		char *open = repeat('[', JSON_MAX_DEPTH), *close = repeat(']', JSON_MAX_DEPTH);
		if (asprintf(&s, "{\"v\":1,\"op\":\"ping\",\"s\":\"]]]]]]]]]]]]]]]]]]]]\",\"x\":%s%s}",
			     open, close) < 0)
			abort();
		expect_reject("depth 17 after a string full of ]", s, strlen(s), ERR_BAD_REQUEST, NULL);
		free(open);
		free(close);
		free(s);
	}

	/* size: exactly 64 KiB is parsed, one byte more is refused unread */
	{
		const char *head = "{\"v\":1,\"op\":\"ping\",\"pad\":\"", *tail = "\"}";
		size_t pad = PROTOCOL_MAX_MSG - strlen(head) - strlen(tail);
		t = repeat('p', pad);
		if (asprintf(&s, "%s%s%s", head, t, tail) < 0)
			abort();
		is_int(strlen(s), PROTOCOL_MAX_MSG, "test message is exactly 64 KiB");
		r = protocol_parse_request(s, strlen(s), &rq, &code, msg, sizeof msg);
		ok(r == 0 && rq.op == OP_PING, "message of exactly 64 KiB accepted (%s)",
		   r ? msg : "ok");
		free(s);
		free(t);
		t = repeat('p', pad + 1);
		if (asprintf(&s, "%s%s%s", head, t, tail) < 0)
			abort();
		expect_reject("message of 64 KiB + 1", s, strlen(s), ERR_BAD_REQUEST, NULL);
		free(s);
		free(t);
	}
}

/* ---- error replies ----------------------------------------------------- */

static void check_reply(const char *code, const char *message, const char *want_message)
{
	_cleanup_json_ yajl_val v = NULL;
	_cleanup_free_ char *reply = protocol_error_reply(code, message);
	yajl_val err;
	int64_t ver = 0;
	bool okv = true;
	const char *s;
	char e[256];

	ok(reply != NULL, "error reply for %s built", code);
	if (!reply)
		return;
	is_int(json_parse(reply, strlen(reply), &v, e, sizeof e), 0, "reply parses: %s", reply);
	if (!v)
		return;
	ok(json_get_i64(v, "v", &ver) == 0 && ver == PROTOCOL_VERSION, "reply has v=1");
	ok(json_get_bool(v, "ok", &okv) == 0 && !okv, "reply has ok=false");
	err = json_get(v, "error");
	ok(YAJL_IS_OBJECT(err), "reply has an error object");
	ok(json_get_str(err, "code", &s) == 0 && strcmp(s, code) == 0, "error.code is %s", code);
	ok(json_get_str(err, "message", &s) == 0 && strcmp(s, want_message) == 0,
	   "error.message round-trips");
}

static void test_error_reply(void)
{
	check_reply(ERR_BAD_REQUEST, "\"id\" (a positive integer job id) is required",
		    "\"id\" (a positive integer job id) is required");
	check_reply(ERR_NOT_FOUND, "no job 7", "no job 7");
	check_reply(ERR_INTERNAL, "tab\there, newline\nthere, backslash \\ and \x01",
		    "tab\there, newline\nthere, backslash \\ and \x01");
	check_reply(ERR_BAD_VERSION, "caf\xc3\xa9", "caf\xc3\xa9");
	/* invalid UTF-8 in a message must not break the document */
	check_reply(ERR_BAD_REQUEST, "bad \xff byte", "?");
}

/* ---- kb names ---------------------------------------------------------- */

struct kb_case {
	const char *kb;
	bool valid;
};

static const struct kb_case kb_cases[] = {
	{ "default", true },
	{ "a", true },
	{ "A-Z_a-z.0-9", true },
	{ "team.docs", true },
	{ "a..b", true },
	{ "trailing.", true },
	{ "-dash-first", true },
	{ "_underscore", true },
	{ "0123456789", true },
	{ "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", true }, /* 64 */
	{ "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", false }, /* 65 */
	{ "", false },
	{ ".", false },
	{ "..", false },
	{ ".hidden", false },
	{ "../x", false },
	{ "a/b", false },
	{ "/abs", false },
	{ "a b", false },
	{ "a\tb", false },
	{ "a\n", false },
	{ "caf\xc3\xa9", false },
	{ "a*", false },
	{ "a:b", false },
	{ "a\\b", false },
};

/* s with control bytes escaped, for a one-line test description. */
static const char *printable(const char *s, char *buf, size_t size)
{
	size_t n = 0;

	for (; *s && n + 5 < size; s++) {
		unsigned char c = (unsigned char)*s;
		n += (size_t)snprintf(buf + n, size - n, c < 0x20 || c == 0x7f ? "\\x%02x" : "%c", c);
	}
	buf[n] = '\0';
	return buf;
}

static void test_kb_valid(void)
{
	char buf[128];

	for (size_t i = 0; i < ARRAY_SIZE(kb_cases); i++)
		is_int(protocol_kb_valid(kb_cases[i].kb), kb_cases[i].valid, "kb \"%s\" is %s",
		       printable(kb_cases[i].kb, buf, sizeof buf),
		       kb_cases[i].valid ? "valid" : "invalid");
}

int main(void)
{
	test_valid();
	test_reject();
	test_limits();
	test_error_reply();
	test_kb_valid();
	return tap_done();
}
