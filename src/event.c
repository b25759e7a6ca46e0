/*
 * The event body (stripehook(8) EVENTS, and the errors "invalid json" to
 * "invalid event type") and the STRIPE_* values of HOOKS.  Pure: no I/O,
 * no globals.
 *
 * The body must be one strict JSON value (RFC 8259) in valid UTF-8, with
 * nothing after it but spaces, tabs, CRs and LFs; otherwise "invalid json".
 * Refused as invalid json besides what json-c's strict mode refuses:
 * ill-formed UTF-8 (overlong forms, surrogates, code points above U+10FFFF,
 * stray or missing continuation bytes), raw bytes below 0x20 inside strings,
 * a single quote outside a string (json-c takes 'key' for a string),
 * numbers outside RFC 8259's grammar ("1.", "-.5", "01"), NaN, Infinity and
 * numbers too large for a double (1e400), an object key holding \u0000, and
 * nesting deeper than 64: the top-level value is at depth 1 and a member or
 * element of a value at depth d is at depth d+1.  Duplicate keys: the last
 * one wins.  The value must then be an object with a string "id", a string
 * "type" and an "object" of "event" or "v2.core.event" ("not an event");
 * the id must be 1-255 of A-Z a-z 0-9 _ - ("invalid event id"), the type
 * 1-255 of a-z 0-9 _ . [ ] ("invalid event type").  Hook values are passed
 * only as strings of fewer than 256 bytes with no byte below 0x20 nor 0x7f;
 * STRIPE_CREATED is a snapshot event's integer "created" in decimal (absent
 * when it is not an integer or is out of the signed 64-bit range) or a thin
 * event's string "created" as is.
 */
#include "config.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json.h>

#include "stripehook.h"

#define OBJECT_SNAPSHOT	"event"
#define OBJECT_THIN	"v2.core.event"

static int
json_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int
number_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' ||
	    c == 'e' || c == 'E';
}

static size_t
skip_digits(const unsigned char *p, size_t len, size_t *i)
{
	size_t	 start = *i;

	while (*i < len && p[*i] >= '0' && p[*i] <= '9')
		(*i)++;
	return *i - start;
}

/*
 * Length of the RFC 8259 number at p, or 0 if it is not one:
 * -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?, and not followed
 * by a byte that would continue it.  json-c accepts "1.", "-.5" and "01".
 */
static size_t
number_len(const unsigned char *p, size_t len)
{
	size_t	 i = 0;

	if (i < len && p[i] == '-')
		i++;
	if (i < len && p[i] == '0')
		i++;
	else if (skip_digits(p, len, &i) == 0)
		return 0;
	if (i < len && p[i] == '.') {
		i++;
		if (skip_digits(p, len, &i) == 0)
			return 0;
	}
	if (i < len && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < len && (p[i] == '+' || p[i] == '-'))
			i++;
		if (skip_digits(p, len, &i) == 0)
			return 0;
	}
	if (i < len && number_char(p[i]))
		return 0;
	return i;
}

/*
 * Length of the well-formed UTF-8 sequence at p whose first byte is 0x80
 * or above (Unicode table 3-7), or 0.  json-c's own check only counts
 * continuation bytes: it lets overlong forms and surrogates through.
 */
static size_t
utf8_len(const unsigned char *p, size_t len)
{
	unsigned char	 lo = 0x80, hi = 0xbf;
	size_t		 n, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (p[0] == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		if (p[0] == 0xf0)
			lo = 0x90;	/* overlong */
		else if (p[0] == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else
		return 0;
	if (len < n || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/*
 * One linear pass over the raw body for what json-c's strict mode lets
 * through (see the top of the file).  It tracks strings exactly on valid
 * JSON; on anything else json-c refuses the body anyway.  0 or -1.
 */
static int
body_scan(const unsigned char *p, size_t len)
{
	size_t	 i, n;
	int	 instr = 0, strnul = 0, lastnul = 0;

	for (i = 0; i < len; i++) {
		if (p[i] >= 0x80) {
			if ((n = utf8_len(p + i, len - i)) == 0)
				return -1;
			i += n - 1;
			continue;
		}
		if (instr) {
			if (p[i] < 0x20)
				return -1;
			if (p[i] == '"') {
				instr = 0;
				lastnul = strnul;
			} else if (p[i] == '\\') {
				if (i + 1 >= len || p[i + 1] < 0x20 ||
				    p[i + 1] >= 0x80)
					return -1;
				if (len - i >= 6 && memcmp(p + i + 1, "u0000",
				    5) == 0)
					strnul = 1;
				i++;	/* the escaped byte */
			}
			continue;
		}
		if (json_ws(p[i]))
			continue;
		/* json-c takes 'text' for a string even in strict mode, and
		 * then lets raw control bytes through inside it. */
		if (p[i] < 0x20 || p[i] == '\'')
			return -1;
		/*
		 * json-c copies keys with strdup: "type\u0000x" would become
		 * a second "type".  A string followed by ':' is a key.
		 */
		if (p[i] == ':' && lastnul)
			return -1;
		lastnul = 0;
		if (p[i] == '"') {
			instr = 1;
			strnul = 0;
		} else if (p[i] == '-' || (p[i] >= '0' && p[i] <= '9')) {
			if ((n = number_len(p + i, len - i)) == 0)
				return -1;
			i += n - 1;
		}
	}
	return 0;
}

/* 0 when the tree holds NaN, an infinity or a double that overflowed. */
static int
json_finite(struct json_object *o)
{
	struct json_object_iterator	 it, end;
	size_t				 i, n;

	switch (json_object_get_type(o)) {
	case json_type_double:
		return isfinite(json_object_get_double(o));
	case json_type_object:
		it = json_object_iter_begin(o);
		end = json_object_iter_end(o);
		for (; !json_object_iter_equal(&it, &end);
		    json_object_iter_next(&it))
			if (!json_finite(json_object_iter_peek_value(&it)))
				return 0;
		return 1;
	case json_type_array:
		n = json_object_array_length(o);
		for (i = 0; i < n; i++)
			if (!json_finite(json_object_array_get_idx(o, i)))
				return 0;
		return 1;
	default:
		return 1;
	}
}

/* The member key of o when it is a string; borrowed.  NULL otherwise. */
static struct json_object *
get_type(struct json_object *o, const char *key, enum json_type type)
{
	struct json_object	*v;

	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, type))
		return NULL;
	return v;
}

/* HOOKS: a hook value is a string under 256 bytes, no control bytes. */
static const char *
env_string(struct json_object *o, const char *key)
{
	struct json_object	*v;
	const char		*s;
	size_t			 len, i;

	if ((v = get_type(o, key, json_type_string)) == NULL)
		return NULL;
	s = json_object_get_string(v);
	len = json_object_get_string_len(v);
	if (len >= SH_ENV_VALUE_MAX)
		return NULL;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return NULL;
	return s;
}

/* The string value of key when it is exactly want (NULs count). */
static const char *
string_is(struct json_object *o, const char *key, const char *want)
{
	struct json_object	*v;
	size_t			 len = strlen(want);

	if ((v = get_type(o, key, json_type_string)) == NULL ||
	    (size_t)json_object_get_string_len(v) != len ||
	    memcmp(json_object_get_string(v), want, len) != 0)
		return NULL;
	return json_object_get_string(v);
}

/* The hook values of HOOKS, each NULL when absent or unfit. */
static void
event_env(struct sh_event *ev, int thin)
{
	struct json_object	*root = ev->root, *v, *obj;
	int64_t			 created;

	if (thin)
		ev->created = env_string(root, "created");
	else if ((v = get_type(root, "created", json_type_int)) != NULL) {
		/*
		 * json-c clamps integers out of range to the limits: a value
		 * at a limit may not be the one sent, so none is passed.
		 */
		created = json_object_get_int64(v);
		if (created != INT64_MIN && created != INT64_MAX) {
			snprintf(ev->created_buf, sizeof(ev->created_buf),
			    "%lld", (long long)created);
			ev->created = ev->created_buf;
		}
	}
	ev->api_version = env_string(root, "api_version");
	ev->account = env_string(root, "account");
	if (ev->account == NULL && thin)
		ev->account = env_string(root, "context");
	if (thin) {
		obj = get_type(root, "related_object", json_type_object);
		ev->object_id = env_string(obj, "id");
		ev->object_type = env_string(obj, "type");
	} else {
		obj = get_type(get_type(root, "data", json_type_object),
		    "object", json_type_object);
		ev->object_id = env_string(obj, "id");
		ev->object_type = env_string(obj, "object");
	}
}

/*
 * EVENTS: "invalid json", "not an event", "invalid event id", "invalid
 * event type", checked in that order.  On SH_OK, ev
 * owns the parsed tree (free with event_free) and every string in ev
 * borrows from it.  On error ev is cleared and owns nothing.  body need not
 * be NUL-terminated; len is authoritative.  SH_E_CONFIG ("internal error")
 * only when the tokener cannot be allocated.
 */
enum sh_err
event_parse(const unsigned char *body, size_t len, struct sh_event *ev)
{
	struct json_tokener	*tok = NULL;
	struct json_object	*root = NULL, *id, *type, *v;
	enum json_tokener_error	 jerr;
	enum sh_err		 err = SH_E_JSON;
	size_t			 i;

	memset(ev, 0, sizeof(*ev));
	ev->livemode = -1;

	/* Row 12.  json-c takes an int length. */
	if (len == 0 || len > INT_MAX || body_scan(body, len) == -1)
		goto out;
	if ((tok = json_tokener_new_ex(SH_JSON_DEPTH)) == NULL) {
		err = SH_E_CONFIG;
		goto out;
	}
	json_tokener_set_flags(tok,
	    JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, (const char *)body, (int)len);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_continue) {
		/*
		 * All of the body was taken and more was expected.  A space
		 * ends a top-level number or literal ("123", "null"), which
		 * is a JSON value; an open string or container stays open.
		 */
		root = json_tokener_parse_ex(tok, " ", 1);
		jerr = json_tokener_get_error(tok);
	} else if (jerr == json_tokener_success) {
		/* json-c stops after the value, even at a NUL. */
		for (i = json_tokener_get_parse_end(tok); i < len; i++)
			if (!json_ws(body[i]))
				goto out;
	}
	if (jerr != json_tokener_success || !json_finite(root))
		goto out;

	/* Row 13, then 14, then 15. */
	err = SH_E_NOT_EVENT;
	if ((ev->object = string_is(root, "object", OBJECT_SNAPSHOT)) == NULL &&
	    (ev->object = string_is(root, "object", OBJECT_THIN)) == NULL)
		goto out;
	if ((id = get_type(root, "id", json_type_string)) == NULL ||
	    (type = get_type(root, "type", json_type_string)) == NULL)
		goto out;
	ev->id = json_object_get_string(id);
	ev->type = json_object_get_string(type);
	err = SH_E_EVENT_ID;
	if (!event_id_valid(ev->id, json_object_get_string_len(id)))
		goto out;
	err = SH_E_EVENT_TYPE;
	if (!event_type_valid(ev->type, json_object_get_string_len(type)))
		goto out;

	if ((v = get_type(root, "livemode", json_type_boolean)) != NULL)
		ev->livemode = json_object_get_boolean(v) ? 1 : 0;
	ev->root = root;
	root = NULL;
	event_env(ev, strcmp(ev->object, OBJECT_THIN) == 0);
	err = SH_OK;
out:
	if (err != SH_OK) {
		memset(ev, 0, sizeof(*ev));
		ev->livemode = -1;
	}
	json_object_put(root);
	if (tok != NULL)
		json_tokener_free(tok);
	return err;
}

void
event_free(struct sh_event *ev)
{
	json_object_put(ev->root);
	memset(ev, 0, sizeof(*ev));
	ev->livemode = -1;
}

#define EVENT_ID_CHARS	"ABCDEFGHIJKLMNOPQRSTUVWXYZ" \
			"abcdefghijklmnopqrstuvwxyz0123456789_-"
#define EVENT_TYPE_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_.[]"

/* 1 when s has 1 to max bytes, each one of set (a NUL never is). */
static int
word_valid(const char *s, size_t len, size_t max, const char *set)
{
	size_t	 i;

	if (s == NULL || len == 0 || len > max)
		return 0;
	for (i = 0; i < len; i++)
		if (s[i] == '\0' || strchr(set, s[i]) == NULL)
			return 0;
	return 1;
}

/* "invalid event id" unless 1-255 characters of A-Z a-z 0-9 _ -. */
int
event_id_valid(const char *s, size_t len)
{
	return word_valid(s, len, SH_ID_MAX, EVENT_ID_CHARS);
}

/* "invalid event type" unless 1-255 characters of a-z 0-9 _ . [ ]. */
int
event_type_valid(const char *s, size_t len)
{
	return word_valid(s, len, SH_TYPE_MAX, EVENT_TYPE_CHARS);
}
