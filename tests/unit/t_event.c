/*
 * Unit tests of event.c: stripehook(8) EVENTS ("invalid json" to "invalid
 * event type") and the STRIPE_* values of HOOKS.  Expected values are read
 * off the payloads and the man page.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stripehook.h"
#include "tap.h"

/* stripe-dotnet's event_test_signature.json, byte for byte (one final LF). */
static const char snapshot[] =
    "{\n"
    "  \"id\": \"evt_123\",\n"
    "  \"object\": \"event\",\n"
    "  \"account\": \"acct_123\",\n"
    "  \"api_version\": \"2017-05-25\",\n"
    "  \"created\": 1533204620,\n"
    "  \"data\": {\n"
    "    \"object\": {\n"
    "      \"id\": \"cus_123\",\n"
    "      \"object\": \"customer\",\n"
    "      \"created\": 123456789,\n"
    "      \"email\": \"test@stripe.com\",\n"
    "      \"livemode\": false,\n"
    "      \"metadata\": {}\n"
    "    }\n"
    "  },\n"
    "  \"livemode\": false,\n"
    "  \"pending_webhooks\": 1,\n"
    "  \"request\": {\n"
    "    \"id\": \"req_123\",\n"
    "    \"idempotency_key\": \"idempotency-key-123\"\n"
    "  },\n"
    "  \"type\": \"customer.created\"\n"
    "}\n";

static const char thin[] =
    "{\"id\":\"evt_test_65R9Ijk8ZJ3CdX5p4a2y0PqC\",\"object\":\"v2.core.event\","
    "\"type\":\"v1.billing.meter.error_report_triggered\",\"livemode\":false,"
    "\"created\":\"2024-09-17T06:20:52.246Z\",\"related_object\":{\"id\":"
    "\"mtr_test_123\",\"type\":\"billing.meter\",\"url\":"
    "\"/v1/billing/meters/mtr_test_123\"},\"context\":\"acct_123\"}";

/* A minimal event; EV("...") appends members after type. */
#define EV_HEAD	"{\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"a.b\""
#define EV(m)	EV_HEAD m "}"

/* Parses n bytes, frees, returns the result. */
static enum sh_err
res_n(const void *p, size_t n)
{
	struct sh_event	 ev;
	enum sh_err	 e;

	e = event_parse(p, n, &ev);
	if (e == SH_OK)
		event_free(&ev);
	else if (ev.root != NULL || ev.id != NULL || ev.type != NULL)
		return SH_E__MAX;	/* an error must leave nothing */
	return e;
}

static enum sh_err
res(const char *s)
{
	return res_n(s, strlen(s));
}

static enum sh_err
parse(const char *s, struct sh_event *ev)
{
	return event_parse((const unsigned char *)s, strlen(s), ev);
}

/* n (at most REP_MAX) copies of c, in a static buffer. */
#define REP_MAX	511
static const char *
rep(char c, size_t n)
{
	static char	 b[REP_MAX + 1];

	if (n > REP_MAX)
		n = REP_MAX;

	memset(b, c, n);
	b[n] = '\0';
	return b;
}

/* An event whose field "key" in data is a string value of n x's. */
static enum sh_err
ev_field_len(const char *top, size_t n, struct sh_event *ev)
{
	static char	 b[2048];

	snprintf(b, sizeof(b), EV_HEAD ",\"%s\":\"%s\"}", top, rep('x', n));
	return parse(b, ev);
}

static void
test_snapshot(void)
{
	struct sh_event	 ev;
	char		 b[sizeof(snapshot) + 8];
	size_t		 n = sizeof(snapshot) - 1;

	is_int(n, 484, "snapshot vector is 484 bytes");
	is_int(parse(snapshot, &ev), SH_OK, "snapshot event accepted");
	is_str(ev.id, "evt_123", "snapshot id");
	is_str(ev.type, "customer.created", "snapshot type");
	is_str(ev.object, "event", "snapshot object");
	is_int(ev.livemode, 0, "snapshot livemode false");
	is_str(ev.created, "1533204620", "snapshot STRIPE_CREATED");
	is_str(ev.api_version, "2017-05-25", "snapshot STRIPE_API_VERSION");
	is_str(ev.account, "acct_123", "snapshot STRIPE_ACCOUNT");
	is_str(ev.object_id, "cus_123", "snapshot STRIPE_OBJECT_ID");
	is_str(ev.object_type, "customer", "snapshot STRIPE_OBJECT_TYPE");
	ok(ev.root != NULL, "snapshot keeps the tree");
	event_free(&ev);
	ok(ev.root == NULL && ev.id == NULL, "event_free clears");
	event_free(&ev);	/* twice is harmless */

	is_int(res_n(snapshot, n - 1), SH_OK, "without the final LF");
	memcpy(b, snapshot, n);
	memcpy(b + n, " \t\r\n", 4);
	is_int(res_n(b, n + 4), SH_OK, "trailing space, tab, CR, LF");
	memcpy(b + n, "x", 1);
	is_int(res_n(b, n + 1), SH_E_JSON, "trailing garbage");
	memcpy(b + n, "\0", 1);
	is_int(res_n(b, n + 1), SH_E_JSON, "trailing NUL");
	memcpy(b + n, "\v", 1);
	is_int(res_n(b, n + 1), SH_E_JSON, "trailing VT is not JSON whitespace");
	memcpy(b + n, "\f", 1);
	is_int(res_n(b, n + 1), SH_E_JSON, "trailing FF is not JSON whitespace");
	memcpy(b + n, "{}", 2);
	is_int(res_n(b, n + 2), SH_E_JSON, "a second value");
	is_int(res_n(snapshot, n - 3), SH_E_JSON, "truncated body");
}

static void
test_thin(void)
{
	struct sh_event	 ev;

	is_int(parse(thin, &ev), SH_OK, "thin event accepted");
	is_str(ev.id, "evt_test_65R9Ijk8ZJ3CdX5p4a2y0PqC", "thin id");
	is_str(ev.type, "v1.billing.meter.error_report_triggered", "thin type");
	is_str(ev.object, "v2.core.event", "thin object");
	is_int(ev.livemode, 0, "thin livemode false");
	is_str(ev.created, "2024-09-17T06:20:52.246Z", "thin created as is");
	ok(ev.api_version == NULL, "thin: no api_version");
	is_str(ev.account, "acct_123", "thin: account from context");
	is_str(ev.object_id, "mtr_test_123", "thin: related_object.id");
	is_str(ev.object_type, "billing.meter", "thin: related_object.type");
	event_free(&ev);

	is_int(parse("{\"id\":\"evt_2\",\"object\":\"v2.core.event\",\"type\":"
	    "\"a.b\",\"account\":\"acct_9\",\"context\":\"acct_1\",\"created\":"
	    "123,\"data\":{\"object\":{\"id\":\"x_1\",\"object\":\"x\"}}}", &ev),
	    SH_OK, "thin with account, numeric created, data");
	is_str(ev.account, "acct_9", "account wins over context");
	ok(ev.created == NULL, "thin: numeric created not passed");
	ok(ev.object_id == NULL && ev.object_type == NULL,
	    "thin: data.object ignored");
	event_free(&ev);

	is_int(parse(EV(",\"context\":\"acct_1\",\"created\":\"2024\","
	    "\"related_object\":{\"id\":\"x_1\",\"type\":\"x\"}"), &ev), SH_OK,
	    "snapshot with thin members");
	ok(ev.account == NULL, "snapshot: context ignored");
	ok(ev.created == NULL, "snapshot: string created not passed");
	ok(ev.object_id == NULL && ev.object_type == NULL,
	    "snapshot: related_object ignored");
	ok(ev.api_version == NULL && ev.livemode == -1, "minimal: no extras");
	event_free(&ev);
}

static void
test_not_json(void)
{
	static const char nul_more[] = "{}\0{\"id\":1}";
	static const char ev_nul[] = EV("") "\0";
	static const char nul_in[] =
	    "{\"id\":\"evt_1\",\"object\":\"event\",\0\"type\":\"a.b\"}";
	static const struct {
		const char *s, *what;
	} bad[] = {
		{ "{", "open object" },
		{ "\"123", "open string" },
		{ "[1,", "open array" },
		{ " \n", "whitespace only" },
		{ "{\"id\":\"evt_1\"", "unterminated event" },
		{ "{/*c*/\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"a.b\"}",
		    "block comment" },
		{ EV("//c\n"), "line comment" },
		{ "{'id':'evt_1','object':'event','type':'a.b'}",
		    "single quotes" },
		{ "{'id':\"evt_c\",\"object\":\"event\",\"type\":\"a.b\"}",
		    "single-quoted key, double-quoted values" },
		{ "{'i\td':\"evt_c\",\"id\":\"evt_c\",\"object\":\"event\","
		    "\"type\":\"a.b\"}", "raw tab in a single-quoted key" },
		{ EV(",\"x\":'v'"), "single-quoted value" },
		{ EV(",\"x\":['v']"), "single-quoted array element" },
		{ EV(",'x':1"), "single-quoted key after others" },
		{ "{id:\"evt_1\",\"object\":\"event\",\"type\":\"a.b\"}",
		    "unquoted key" },
		{ EV(",\"x\":1,"), "trailing comma in object" },
		{ EV(",\"x\":[1,]"), "trailing comma in array" },
		{ EV(",\"x\":1.") , "number '1.'" },
		{ EV(",\"x\":1.e5"), "number '1.e5'" },
		{ EV(",\"x\":-.5"), "number '-.5'" },
		{ EV(",\"x\":01"), "number '01'" },
		{ EV(",\"x\":-01"), "number '-01'" },
		{ EV(",\"x\":00"), "number '00'" },
		{ EV(",\"x\":+1"), "number '+1'" },
		{ EV(",\"x\":1e"), "number '1e'" },
		{ EV(",\"x\":1e+"), "number '1e+'" },
		{ EV(",\"x\":-"), "number '-'" },
		{ EV(",\"x\":0x1"), "hex number" },
		{ EV(",\"x\":NaN"), "NaN" },
		{ EV(",\"x\":[1,NaN]"), "NaN in an array" },
		{ EV(",\"x\":Infinity"), "Infinity" },
		{ EV(",\"x\":-Infinity"), "-Infinity" },
		{ EV(",\"x\":{\"y\":1e400}"), "1e400 overflows a double" },
		{ EV(",\"x\":-1e400"), "-1e400 overflows a double" },
		{ EV(",\"x\":TRUE"), "TRUE" },
		{ EV(",\"x\":\"\\x41\""), "\\x escape" },
		{ EV(",\"x\":\"\\'\""), "\\' escape" },
		{ EV(",\"x\":\"a\tb\""), "raw tab in a string" },
		{ EV(",\"x\":\"a\nb\""), "raw LF in a string" },
		{ EV(",\"x\":\"a\x01" "b\""), "raw 0x01 in a string" },
		{ EV(",\"x\":\"a\x1f" "b\""), "raw 0x1f in a string" },
		{ EV(",\"x\":\"a\\\x01\""), "escaped raw 0x01" },
		{ "{\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"c.d\","
		    "\"type\\u0000x\":\"a.b\"}", "key with \\u0000" },
		{ EV(",\"x\":{\"k\\u0000\" : 1}"), "nested key with \\u0000" },
		{ EV(",\"x\":[1,\v2]"), "VT between values" },
		/* UTF-8 (Unicode table 3-7) */
		{ EV(",\"x\":\"\xc0\x80\""), "overlong C0 80" },
		{ EV(",\"x\":\"\xc1\xbf\""), "overlong C1 BF" },
		{ EV(",\"x\":\"\xe0\x80\xaf\""), "overlong E0 80 AF" },
		{ EV(",\"x\":\"\xf0\x80\x80\xaf\""), "overlong F0 80 80 AF" },
		{ EV(",\"x\":\"\x80\""), "lone continuation byte" },
		{ EV(",\"x\":\"a\xbf" "b\""), "lone continuation BF" },
		{ EV(",\"x\":\"\xed\xa0\x80\""), "surrogate D800 in UTF-8" },
		{ EV(",\"x\":\"\xed\xbf\xbf\""), "surrogate DFFF in UTF-8" },
		{ EV(",\"x\":\"\xf4\x90\x80\x80\""), "above U+10FFFF" },
		{ EV(",\"x\":\"\xf5\x80\x80\x80\""), "lead byte F5" },
		{ EV(",\"x\":\"\xff\""), "byte FF" },
		{ EV(",\"x\":\"\xe2\x82\""), "truncated E2 82 before quote" },
		{ EV(",\"x\":\"\xf0\x9f\x98\""), "truncated 4-byte sequence" },
		{ EV(",\"x\":\"\xe2\x28\xa1\""), "bad second byte" },
		{ EV("") "\xe2\x82", "truncated sequence at the end" },
		{ "\xef\xbb\xbf" EV(""), "byte order mark" },
	};
	size_t	 i;

	is_int(res_n("", 0), SH_E_JSON, "empty body");
	is_int(res_n(NULL, 0), SH_E_JSON, "NULL empty body");
	is_int(res_n(nul_more, sizeof(nul_more) - 1), SH_E_JSON,
	    "{} NUL and more");
	is_int(res_n(ev_nul, sizeof(ev_nul) - 1), SH_E_JSON, "event then NUL");
	is_int(res_n(nul_in, sizeof(nul_in) - 1), SH_E_JSON,
	    "NUL inside the object");
	/* Refused on the length alone, before any byte is read. */
	is_int(res_n("{}", (size_t)INT_MAX + 1), SH_E_JSON, "len over INT_MAX");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(res(bad[i].s), SH_E_JSON, "invalid json: %s", bad[i].what);
}

static void
test_json_ok(void)
{
	static const struct {
		const char *s, *what;
	} good[] = {
		{ EV(",\"x\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""),
		    "2-, 3- and 4-byte UTF-8" },
		{ EV(",\"x\":\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\""),
		    "UTF-8 edges C2 80, DF BF, E0 A0 80, ED 9F BF" },
		{ EV(",\"x\":\"\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80\""),
		    "UTF-8 edges EE 80 80, EF BF BF, F0 90 80 80" },
		{ EV(",\"x\":\"\xf4\x8f\xbf\xbf\""), "U+10FFFF" },
		{ EV(",\"x\":\"a\x7f" "b\""), "raw DEL in a string" },
		{ EV(",\"x\":\"\\t\\n\\u0001\\\"\\\\\\/\""), "escapes" },
		{ EV(",\"x\":\"\\u0000\""), "\\u0000 in a value" },
		{ EV(",\"x\":\"\\ud83d\\ude00\\ud800\""), "surrogate escapes" },
		{ EV(",\"x\":\"\\\\\",\"y\":1"), "string ending in \\\\" },
		{ EV(",\"x\":[0,-0,1.5,-1.5e-3,1E+5,0e0,-0.0e-0,1e308]"),
		    "RFC 8259 numbers" },
		{ EV(",\"x\":[true,false,null,{},[]]"), "literals" },
		{ " \t\r\n" EV(" , \"x\" : 1 ") " \n", "whitespace everywhere" },
	};
	char	 b[2 * REP_MAX + 64];
	size_t	 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		is_int(res(good[i].s), SH_OK, "accepted: %s", good[i].what);
	snprintf(b, sizeof(b), EV_HEAD ",\"big\":%s,\"neg\":-%s}",
	    rep('9', 400), rep('9', 400));
	is_int(res(b), SH_OK, "accepted: 400-digit integers in fields not read");
}

static void
test_not_event(void)
{
	static const struct {
		const char *s, *what;
	} bad[] = {
		{ "123", "a bare number" },
		{ "123\n", "a number and LF" },
		{ "\"123\"", "a string" },
		{ "null", "null" },
		{ "null\n", "null and LF" },
		{ "true", "true" },
		{ "[]", "an array" },
		{ "[" EV("") "]", "an event in an array" },
		{ "{}", "an empty object" },
		{ "{\"object\":\"event\",\"type\":\"a.b\"}", "no id" },
		{ "{\"id\":\"evt_1\",\"object\":\"event\"}", "no type" },
		{ "{\"id\":\"evt_1\",\"type\":\"a.b\"}", "no object" },
		{ "{\"id\":1,\"object\":\"event\",\"type\":\"a.b\"}", "numeric id" },
		{ "{\"id\":null,\"object\":\"event\",\"type\":\"a.b\"}", "null id" },
		{ "{\"id\":[\"evt_1\"],\"object\":\"event\",\"type\":\"a.b\"}",
		    "array id" },
		{ "{\"id\":\"evt_1\",\"object\":\"event\",\"type\":[\"a.b\"]}",
		    "array type" },
		{ "{\"id\":\"evt_1\",\"object\":\"event\",\"type\":true}",
		    "boolean type" },
		{ "{\"id\":\"evt_1\",\"object\":{},\"type\":\"a.b\"}",
		    "object object" },
		{ "{\"id\":\"evt_1\",\"object\":\"Event\",\"type\":\"a.b\"}",
		    "object Event" },
		{ "{\"id\":\"evt_1\",\"object\":\"events\",\"type\":\"a.b\"}",
		    "object events" },
		{ "{\"id\":\"evt_1\",\"object\":\"even\",\"type\":\"a.b\"}",
		    "object even" },
		{ "{\"id\":\"evt_1\",\"object\":\"v2.core.Event\",\"type\":\"a.b\"}",
		    "object v2.core.Event" },
		{ "{\"id\":\"evt_1\",\"object\":\"event\\u0000\",\"type\":\"a.b\"}",
		    "object event\\u0000" },
		{ "{\"id\":\"evt_1\",\"object\":\"\",\"type\":\"a.b\"}",
		    "empty object" },
		{ "{\"id\":\"evt_1\",\"object\":\"event\",\"data\":{\"type\":"
		    "\"a.b\"}}", "type only nested" },
		{ "{\"id\":\"evt/1\",\"object\":\"customer\",\"type\":\"A\"}",
		    "not an event before invalid event id and invalid event type" },
		{ "{\"id\":\"evt/1\",\"object\":\"event\",\"type\":1}",
		    "not an event before invalid event id" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(res(bad[i].s), SH_E_NOT_EVENT, "not an event: %s",
		    bad[i].what);
}

static void
test_id(void)
{
	char		 b[1024];
	struct sh_event	 ev;
	static const struct {
		const char *id, *what;
	} bad[] = {
		{ "", "empty" },
		{ "evt/1", "slash" },
		{ "..", "dot dot" },
		{ "evt.1", "dot" },
		{ "evt\\n1", "newline" },
		{ "evt\\r", "CR" },
		{ "evt\\u0001", "control" },
		{ "evt\\u0000x", "\\u0000" },
		{ "evt\\u0000", "trailing \\u0000" },
		{ "evt 1", "space" },
		{ "evt\\\\1", "backslash" },
		{ "evt\xc3\xa9", "non-ASCII" },
		{ "evt*", "star" },
		{ "evt%2f", "percent" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(b, sizeof(b), "{\"id\":\"%s\",\"object\":\"event\","
		    "\"type\":\"a.b\"}", bad[i].id);
		is_int(res(b), SH_E_EVENT_ID, "invalid id: %s", bad[i].what);
	}
	snprintf(b, sizeof(b), "{\"id\":\"%s\",\"object\":\"event\","
	    "\"type\":\"a.b\"}", rep('a', 256));
	is_int(res(b), SH_E_EVENT_ID, "invalid id: 256 characters");
	snprintf(b, sizeof(b), "{\"id\":\"%s\",\"object\":\"event\","
	    "\"type\":\"a.b\"}", rep('a', 255));
	is_int(parse(b, &ev), SH_OK, "id of 255 characters");
	is_int(strlen(ev.id), 255, "the 255-character id is whole");
	event_free(&ev);
	is_int(parse("{\"id\":\"AZaz09_-\",\"object\":\"event\",\"type\":\"a\"}",
	    &ev), SH_OK, "id of every allowed class");
	is_str(ev.id, "AZaz09_-", "id as sent");
	event_free(&ev);
	is_int(res("{\"id\":\"evt/1\",\"object\":\"event\",\"type\":\"A\"}"),
	    SH_E_EVENT_ID, "invalid event id before invalid event type");

	ok(event_id_valid("evt_1", 5), "event_id_valid evt_1");
	ok(!event_id_valid("evt_1", 0), "event_id_valid length 0");
	ok(!event_id_valid(NULL, 0), "event_id_valid NULL");
	ok(!event_id_valid("evt\0x", 5), "event_id_valid embedded NUL");
	ok(event_id_valid("evt\0x", 3), "event_id_valid uses the length");
	ok(event_id_valid(rep('Z', 255), 255), "event_id_valid 255");
	ok(!event_id_valid(rep('Z', 256), 256), "event_id_valid 256");
}

static void
test_type(void)
{
	char		 b[1024];
	struct sh_event	 ev;
	static const struct {
		const char *type, *what;
	} bad[] = {
		{ "", "empty" },
		{ "Customer.created", "uppercase" },
		{ "customer created", "space" },
		{ "customer.*", "star" },
		{ "$(reboot)", "$(" },
		{ "a/b", "slash" },
		{ "a-b", "hyphen" },
		{ "a\\nb", "newline" },
		{ "a\\u0000b", "\\u0000" },
		{ "a;b", "semicolon" },
		{ "a\xc3\xa9", "non-ASCII" },
		{ "a`b`", "backquote" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(b, sizeof(b), "{\"id\":\"evt_1\",\"object\":\"event\","
		    "\"type\":\"%s\"}", bad[i].type);
		is_int(res(b), SH_E_EVENT_TYPE, "invalid type: %s",
		    bad[i].what);
	}
	snprintf(b, sizeof(b), "{\"id\":\"evt_1\",\"object\":\"event\","
	    "\"type\":\"%s\"}", rep('a', 256));
	is_int(res(b), SH_E_EVENT_TYPE, "invalid type: 256 characters");
	snprintf(b, sizeof(b), "{\"id\":\"evt_1\",\"object\":\"event\","
	    "\"type\":\"%s\"}", rep('a', 255));
	is_int(res(b), SH_OK, "type of 255 characters");
	is_int(parse("{\"id\":\"evt_1\",\"object\":\"event\",\"type\":"
	    "\"v1.items[0].x_9\"}", &ev), SH_OK, "type with [ ] _ . digits");
	is_str(ev.type, "v1.items[0].x_9", "type as sent");
	event_free(&ev);

	ok(event_type_valid("a[]._9", 6), "event_type_valid a[]._9");
	ok(!event_type_valid("a.b", 0), "event_type_valid length 0");
	ok(!event_type_valid(NULL, 0), "event_type_valid NULL");
	ok(!event_type_valid("a\0b", 3), "event_type_valid embedded NUL");
	ok(!event_type_valid("a-b", 3), "event_type_valid hyphen");
}

static void
test_duplicates(void)
{
	struct sh_event	 ev;

	is_int(parse("{\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"a.b\","
	    "\"type\":\"c.d\"}", &ev), SH_OK, "duplicate type");
	is_str(ev.type, "c.d", "the last type wins");
	event_free(&ev);
	is_int(parse("{\"id\":\"evt/1\",\"id\":\"evt_2\",\"object\":\"x\","
	    "\"object\":\"event\",\"type\":\"a.b\"}", &ev), SH_OK,
	    "duplicate id and object");
	is_str(ev.id, "evt_2", "the last id wins");
	event_free(&ev);
	is_int(res("{\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"a.b\","
	    "\"type\":\"A\"}"), SH_E_EVENT_TYPE, "a bad last type is refused");
	is_int(res("{\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"a.b\","
	    "\"type\":null}"), SH_E_NOT_EVENT, "a last null type is refused");
}

static void
test_livemode(void)
{
	struct sh_event	 ev;
	static const struct {
		const char *s;
		int want;
		const char *what;
	} t[] = {
		{ EV(",\"livemode\":true"), 1, "true" },
		{ EV(",\"livemode\":false"), 0, "false" },
		{ EV(""), -1, "absent" },
		{ EV(",\"livemode\":\"true\""), -1, "the string true" },
		{ EV(",\"livemode\":1"), -1, "the number 1" },
		{ EV(",\"livemode\":null"), -1, "null" },
		{ EV(",\"data\":{\"livemode\":true}"), -1, "only nested" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		is_int(parse(t[i].s, &ev), SH_OK, "livemode %s parses",
		    t[i].what);
		is_int(ev.livemode, t[i].want, "livemode %s", t[i].what);
		event_free(&ev);
	}
}

static void
test_created(void)
{
	struct sh_event	 ev;
	static const struct {
		const char *s, *want, *what;
	} t[] = {
		{ EV(",\"created\":0"), "0", "0" },
		{ EV(",\"created\":-5"), "-5", "negative" },
		{ EV(",\"created\":9223372036854775806"), "9223372036854775806",
		    "2^63-2" },
		{ EV(",\"created\":9223372036854775807"), NULL,
		    "2^63-1 (json-c's clamp limit)" },
		{ EV(",\"created\":-9223372036854775808"), NULL,
		    "-2^63 (json-c's clamp limit)" },
		{ EV(",\"created\":18446744073709551615"), NULL, "2^64-1" },
		{ EV(",\"created\":1234567890123456789012345678901234567890"),
		    NULL, "40 digits" },
		{ EV(",\"created\":1533204620.0"), NULL, "a fraction" },
		{ EV(",\"created\":1.5e9"), NULL, "an exponent" },
		{ EV(",\"created\":\"1533204620\""), NULL, "a string" },
		{ EV(",\"created\":true"), NULL, "a boolean" },
		{ EV(",\"created\":null"), NULL, "null" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		is_int(parse(t[i].s, &ev), SH_OK, "created %s parses",
		    t[i].what);
		is_str(ev.created, t[i].want, "STRIPE_CREATED for %s",
		    t[i].what);
		event_free(&ev);
	}
}

static void
test_env(void)
{
	struct sh_event	 ev;
	static const struct {
		const char *s, *what;
	} dropped[] = {
		{ EV(",\"account\":\"acct\\u0001\""), "\\u0001" },
		{ EV(",\"account\":\"acct\\n\""), "newline" },
		{ EV(",\"account\":\"acct\\t\""), "tab" },
		{ EV(",\"account\":\"acct\\u001f\""), "\\u001f" },
		{ EV(",\"account\":\"acct\\u007f\""), "\\u007f" },
		{ EV(",\"account\":\"acct\x7f\""), "raw DEL" },
		{ EV(",\"account\":\"acct\\u0000x\""), "\\u0000" },
		{ EV(",\"account\":12"), "a number" },
		{ EV(",\"account\":{\"id\":\"acct_1\"}"), "an object" },
		{ EV(",\"account\":null"), "null" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++) {
		is_int(parse(dropped[i].s, &ev), SH_OK, "account %s parses",
		    dropped[i].what);
		ok(ev.account == NULL, "account with %s dropped",
		    dropped[i].what);
		event_free(&ev);
	}

	is_int(ev_field_len("api_version", 255, &ev), SH_OK, "255-byte value");
	ok(ev.api_version != NULL && strlen(ev.api_version) == 255,
	    "255-byte api_version kept");
	event_free(&ev);
	is_int(ev_field_len("api_version", 256, &ev), SH_OK, "256-byte value");
	ok(ev.api_version == NULL, "256-byte api_version dropped");
	event_free(&ev);
	is_int(ev_field_len("account", 256, &ev), SH_OK, "256-byte account");
	ok(ev.account == NULL, "256-byte account dropped");
	event_free(&ev);

	is_int(parse(EV(",\"api_version\":\"\",\"account\":\"caf\xc3\xa9 x\""),
	    &ev), SH_OK, "empty and non-ASCII values");
	is_str(ev.api_version, "", "empty api_version kept");
	is_str(ev.account, "caf\xc3\xa9 x", "non-ASCII account kept");
	event_free(&ev);

	is_int(parse(EV(",\"data\":{\"object\":{\"id\":\"cus\\u0000\","
	    "\"object\":\"a\\u0007\"}}"), &ev), SH_OK, "bad data.object");
	ok(ev.object_id == NULL && ev.object_type == NULL,
	    "data.object values with controls dropped");
	event_free(&ev);
	is_int(parse(EV(",\"data\":{\"object\":{\"id\":5,\"object\":[]}}"),
	    &ev), SH_OK, "data.object of wrong types");
	ok(ev.object_id == NULL && ev.object_type == NULL,
	    "data.object values of wrong types dropped");
	event_free(&ev);
	is_int(parse(EV(",\"data\":{\"object\":\"cus_1\"}"), &ev), SH_OK,
	    "data.object a string");
	ok(ev.object_id == NULL && ev.object_type == NULL,
	    "no object values from a string data.object");
	event_free(&ev);
	is_int(parse(EV(",\"data\":[{\"object\":{\"id\":\"cus_1\"}}]"), &ev),
	    SH_OK, "data an array");
	ok(ev.object_id == NULL, "no object id from an array data");
	event_free(&ev);

	is_int(parse("{\"id\":\"evt_1\",\"object\":\"v2.core.event\",\"type\":"
	    "\"a.b\",\"created\":\"2024\\n\",\"context\":\"a\\u0001\","
	    "\"related_object\":{\"id\":\"x\\u0000\",\"type\":\"b\\r\"}}", &ev),
	    SH_OK, "thin event with controls in values");
	ok(ev.created == NULL && ev.account == NULL && ev.object_id == NULL &&
	    ev.object_type == NULL, "thin values with controls dropped");
	event_free(&ev);
	is_int(parse("{\"id\":\"evt_1\",\"object\":\"v2.core.event\",\"type\":"
	    "\"a.b\",\"account\":\"a\\n\",\"context\":\"acct_2\"}", &ev),
	    SH_OK, "thin event with an unfit account");
	is_str(ev.account, "acct_2", "unfit account falls back to context");
	event_free(&ev);
}

/*
 * Depth as json-c counts it: the top-level value is at depth 1, a member or
 * element of a value at depth d is at depth d+1; at most SH_JSON_DEPTH.
 * The event object is at depth 1 and "x" at depth 2, so k arrays nested in
 * "x" put the innermost array at depth k+1 and its element at depth k+2.
 */
static enum sh_err
nested(size_t k, const char *inner)
{
	char		*b;
	size_t		 n = 0, i, cap = 2 * k + 64;
	enum sh_err	 e;

	if ((b = malloc(cap)) == NULL)
		return SH_E__MAX;
	n = (size_t)snprintf(b, cap, "%s", EV_HEAD ",\"x\":");
	for (i = 0; i < k; i++)
		b[n++] = '[';
	n += (size_t)snprintf(b + n, cap - n, "%s", inner);
	for (i = 0; i < k; i++)
		b[n++] = ']';
	b[n++] = '}';
	e = res_n(b, n);
	free(b);
	return e;
}

static void
test_depth(void)
{
	char		*b;
	size_t		 i, n = 100000, m;
	clock_t		 c;

	is_int(SH_JSON_DEPTH, 64, "EVENTS: depth at most 64");
	is_int(nested(62, "1"), SH_OK, "a scalar at depth 64");
	is_int(nested(63, "1"), SH_E_JSON, "a scalar at depth 65");
	is_int(nested(63, ""), SH_OK, "an empty array at depth 64");
	is_int(nested(64, ""), SH_E_JSON, "an empty array at depth 65");
	is_int(nested(62, "{}"), SH_OK, "an empty object at depth 64");
	is_int(nested(63, "{}"), SH_E_JSON, "an empty object at depth 65");
	is_int(nested(62, "\"s\""), SH_OK, "a string at depth 64");

	if ((b = malloc(5 * n + 1)) == NULL) {
		ok(0, "malloc");
		return;
	}
	memset(b, '[', n);
	c = clock();
	is_int(res_n(b, n), SH_E_JSON, "100000 open arrays");
	for (i = 0; i < n; i++)
		b[n + i] = ']';
	is_int(res_n(b, 2 * n), SH_E_JSON, "100000 nested arrays");
	for (i = m = 0; i < n; i++, m += 5)
		memcpy(b + m, "{\"a\":", 5);
	is_int(res_n(b, m), SH_E_JSON, "100000 open objects");
	c = clock() - c;
	ok(c < 5 * CLOCKS_PER_SEC, "deep nesting refused quickly (%.3f s)",
	    (double)c / CLOCKS_PER_SEC);
	free(b);
}

int
main(void)
{
	test_snapshot();
	test_thin();
	test_not_json();
	test_json_ok();
	test_not_event();
	test_id();
	test_type();
	test_duplicates();
	test_livemode();
	test_created();
	test_env();
	test_depth();
	return tap_done();
}
