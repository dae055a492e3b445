/* The socket protocol: request parsing and validation, replies. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "protocol.h"

static const char *const op_names[] = {
	[OP_SUBMIT] = "submit", [OP_STATUS] = "status", [OP_LIST] = "list",
	[OP_CANCEL] = "cancel", [OP_PRESSURE] = "simulate_pressure",
	[OP_PING] = "ping", [OP_WATCH] = "watch", [OP_UNWATCH] = "unwatch",
};

const char *protocol_op_name(enum protocol_op op)
{
	return (size_t)op < sizeof op_names / sizeof op_names[0] ? op_names[op] : "?";
}

bool protocol_kb_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PROTOCOL_KB_MAX || s[0] == '.')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789_.-") == n;
}

/* A request member that must be an unsigned integer in [lo, hi]. */
static int get_range(yajl_val req, const char *key, uint64_t lo, uint64_t hi,
		     bool *has, uint64_t *ret, char *msg, size_t msgsz)
{
	uint64_t v;
	int r = json_get_u64(req, key, &v);

	if (r == -ENOENT)
		return 0;
	if (r < 0 || v < lo || v > hi) {
		snprintf(msg, msgsz, "\"%s\" must be an integer from %llu to %llu",
			 key, (unsigned long long)lo, (unsigned long long)hi);
		return -EINVAL;
	}
	*ret = v;
	if (has)
		*has = true;
	return 0;
}

static int get_string(yajl_val req, const char *key, char *buf, size_t size,
		      char *msg, size_t msgsz)
{
	const char *s;
	int r = json_get_str(req, key, &s);

	if (r == -ENOENT)
		return 0;
	if (r < 0 || strlen(s) >= size) {
		snprintf(msg, msgsz, "\"%s\" must be a string of at most %zu bytes",
			 key, size - 1);
		return -EINVAL;
	}
	strcpy(buf, s);
	return 0;
}

static int parse_options(yajl_val req, struct job_options *o, char *msg, size_t msgsz)
{
	int64_t prio;
	int r;

	if (get_range(req, "memory_max", 1 << 20, UINT64_C(1) << 50,
		      &o->has_memory_max, &o->memory_max, msg, msgsz) < 0 ||
	    get_range(req, "batch_size", 1, 100000, &o->has_batch_size,
		      &o->batch_size, msg, msgsz) < 0 ||
	    get_range(req, "max_bytes", 1024, UINT64_C(1) << 32, &o->has_max_bytes,
		      &o->max_bytes, msg, msgsz) < 0 ||
	    get_range(req, "max_wait_ms", 1, 3600 * 1000, &o->has_max_wait_ms,
		      &o->max_wait_ms, msg, msgsz) < 0 ||
	    get_range(req, "timeout_ms", 1, UINT64_C(30) * 24 * 3600 * 1000,
		      &o->has_timeout, &o->timeout_ms, msg, msgsz) < 0 ||
	    get_range(req, "gpu_memory_max", 0, UINT64_C(1) << 50,
		      &o->has_gpu_memory_max, &o->gpu_memory_max, msg, msgsz) < 0 ||
	    get_string(req, "kb", o->kb, sizeof o->kb, msg, msgsz) < 0 ||
	    get_string(req, "sink", o->sink, sizeof o->sink, msg, msgsz) < 0)
		return -EINVAL;
	r = json_get_i64(req, "priority", &prio);
	if (r == 0 && (prio < -100 || prio > 100))
		r = -EINVAL;
	if (r == -EINVAL) {
		snprintf(msg, msgsz, "\"priority\" must be an integer from -100 to 100");
		return r;
	}
	if (r == 0) {
		o->priority = prio;
		o->has_priority = true;
	}
	if (json_get(req, "kb") && !protocol_kb_valid(o->kb)) {
		snprintf(msg, msgsz, "\"kb\" must be 1 to 64 of A-Z a-z 0-9 _ . - "
			 "and not start with a dot");
		return -EINVAL;
	}
	if (json_get(req, "sink") && strcmp(o->sink, "mock") != 0 &&
	    strcmp(o->sink, "jsonl") != 0 && strcmp(o->sink, "exec") != 0) {
		snprintf(msg, msgsz, "\"sink\" must be one of mock, jsonl, exec");
		return -EINVAL;
	}
	return 0;
}

/* watch, unwatch: "id": N, "ids": [N, ...] or "all": true, one of them. */
static int parse_watch(yajl_val req, struct request *rq, char *msg, size_t msgsz)
{
	yajl_val ids = json_get(req, "ids"), all = json_get(req, "all");
	int given = !!json_get(req, "id") + !!ids + !!all;

	if (given != 1) {
		snprintf(msg, msgsz, "name the jobs to watch with one of \"id\" (a job id), "
			 "\"ids\" (an array of at most %d) or \"all\": true", PROTOCOL_WATCH_MAX);
		return -EINVAL;
	}
	if (all) {
		if (!YAJL_IS_TRUE(all)) {
			snprintf(msg, msgsz, "\"all\" must be true");
			return -EINVAL;
		}
		rq->all = true;
		return 0;
	}
	if (!ids) {
		if (json_get_u64(req, "id", &rq->ids[0]) < 0 || rq->ids[0] == 0) {
			snprintf(msg, msgsz, "\"id\" (a positive integer job id) is required");
			return -EINVAL;
		}
		rq->n_ids = 1;
		return 0;
	}
	if (!YAJL_IS_ARRAY(ids) || ids->u.array.len == 0 ||
	    ids->u.array.len > PROTOCOL_WATCH_MAX) {
		snprintf(msg, msgsz, "\"ids\" must be an array of 1 to %d job ids",
			 PROTOCOL_WATCH_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < ids->u.array.len; i++) {
		yajl_val v = ids->u.array.values[i];
		if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) <= 0) {
			snprintf(msg, msgsz, "\"ids\" must hold positive integer job ids");
			return -EINVAL;
		}
		rq->ids[rq->n_ids++] = (uint64_t)YAJL_GET_INTEGER(v);
	}
	return 0;
}

int protocol_parse_request(const char *buf, size_t len, struct request *ret,
			   const char **ret_code, char *msg, size_t msgsz)
{
	_cleanup_json_ yajl_val req = NULL;
	struct request rq = {0};
	const char *op;
	int64_t v;
	size_t i;

	*ret_code = ERR_BAD_REQUEST;
	if (len > PROTOCOL_MAX_MSG) {
		snprintf(msg, msgsz, "message larger than %d bytes", PROTOCOL_MAX_MSG);
		return -EINVAL;
	}
	if (json_parse(buf, len, &req, msg, msgsz) < 0)
		return -EINVAL;
	if (!YAJL_IS_OBJECT(req)) {
		snprintf(msg, msgsz, "a request must be a JSON object");
		return -EINVAL;
	}
	if (json_get_i64(req, "v", &v) < 0 || v != PROTOCOL_VERSION) {
		*ret_code = ERR_BAD_VERSION;
		snprintf(msg, msgsz, "protocol version \"v\": %d is required "
			 "(memsafectl and memsafed are from different releases?)",
			 PROTOCOL_VERSION);
		return -EINVAL;
	}
	if (json_get_str(req, "op", &op) < 0) {
		snprintf(msg, msgsz, "\"op\" (a string) is required");
		return -EINVAL;
	}
	for (i = 0; i < sizeof op_names / sizeof op_names[0]; i++)
		if (strcmp(op, op_names[i]) == 0)
			break;
	if (i == sizeof op_names / sizeof op_names[0]) {
		*ret_code = ERR_UNKNOWN_OP;
		size_t n = strlen(op);

		/* At most 40 bytes of it, never half a UTF-8 character. */
		if (n > 40)
			for (n = 40; (op[n] & 0xc0) == 0x80; n--)
				;
		snprintf(msg, msgsz, "unknown op \"%.*s%s\"", (int)n, op,
			 op[n] ? "…" : "");
		return -EINVAL;
	}
	rq.op = (enum protocol_op)i;

	switch (rq.op) {
	case OP_STATUS:
	case OP_CANCEL:
		if (json_get_u64(req, "id", &rq.id) < 0 || rq.id == 0) {
			snprintf(msg, msgsz, "\"id\" (a positive integer job id) is required");
			return -EINVAL;
		}
		break;
	case OP_SUBMIT:
		if (get_string(req, "name", rq.name, sizeof rq.name, msg, msgsz) < 0 ||
		    parse_options(req, &rq.opts, msg, msgsz) < 0)
			return -EINVAL;
		break;
	case OP_PRESSURE: {
		bool has_target = false;
		if (get_range(req, "target_mb", 1, 1 << 20, &has_target,
			      &rq.target_mb, msg, msgsz) < 0 ||
		    get_range(req, "hold_ms", 0, 600000, NULL, &rq.hold_ms, msg, msgsz) < 0 ||
		    parse_options(req, &rq.opts, msg, msgsz) < 0)
			return -EINVAL;
		if (!has_target) {
			snprintf(msg, msgsz, "\"target_mb\" is required");
			return -EINVAL;
		}
		break;
	}
	case OP_WATCH:
	case OP_UNWATCH:
		if (parse_watch(req, &rq, msg, msgsz) < 0)
			return -EINVAL;
		break;
	case OP_LIST:
	case OP_PING:
		break;
	}
	*ret = rq;
	*ret_code = NULL;
	return 0;
}

char *protocol_error_reply(const char *code, const char *message)
{
	_cleanup_json_gen_ yajl_gen g = json_gen_new(false);

	yajl_gen_map_open(g);
	json_kint(g, "v", PROTOCOL_VERSION);
	json_kbool(g, "ok", false);
	json_key(g, "error");
	yajl_gen_map_open(g);
	json_kstr(g, "code", code);
	json_kstr(g, "message", message);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	return json_gen_dup(g, NULL);
}
