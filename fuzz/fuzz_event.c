/*
 * Fuzz target: the event parser (stripehook(8) EVENTS: the answers from
 * "invalid json" to "invalid event type").  The input is the body, copied
 * into a buffer of exactly its length.
 *
 * Besides "no crash, no leak", it checks what the rest of the program
 * relies on: an accepted event has an id and a type that pass their own
 * validators (so they are safe in file names, environments and logs),
 * the object is one of the two event kinds, and every hook value is a
 * string under 256 bytes without control bytes (stripehook(8) HOOKS).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stripehook.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static void
check_value(const char *v)
{
	size_t	 i, len;

	if (v == NULL)
		return;
	len = strlen(v);
	FUZZ_ASSERT(len < SH_ENV_VALUE_MAX);
	for (i = 0; i < len; i++)
		FUZZ_ASSERT((unsigned char)v[i] >= 0x20 &&
		    (unsigned char)v[i] != 0x7f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sh_event	 ev;
	unsigned char	*body;
	enum sh_err	 rc;

	if ((body = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(body, data, size);
	memset(&ev, 0xa5, sizeof(ev));	/* no reliance on a zeroed ev */
	rc = event_parse(body, size, &ev);
	FUZZ_ASSERT(rc == SH_OK || rc == SH_E_JSON || rc == SH_E_NOT_EVENT ||
	    rc == SH_E_EVENT_ID || rc == SH_E_EVENT_TYPE);
	if (rc == SH_OK) {
		FUZZ_ASSERT(ev.root != NULL && ev.id != NULL &&
		    ev.type != NULL && ev.object != NULL);
		FUZZ_ASSERT(event_id_valid(ev.id, strlen(ev.id)));
		FUZZ_ASSERT(event_type_valid(ev.type, strlen(ev.type)));
		FUZZ_ASSERT(strlen(ev.id) <= SH_ID_MAX);
		FUZZ_ASSERT(strlen(ev.type) <= SH_TYPE_MAX);
		FUZZ_ASSERT(strcmp(ev.object, "event") == 0 ||
		    strcmp(ev.object, "v2.core.event") == 0);
		FUZZ_ASSERT(ev.livemode >= -1 && ev.livemode <= 1);
		check_value(ev.created);
		check_value(ev.api_version);
		check_value(ev.account);
		check_value(ev.object_id);
		check_value(ev.object_type);
		/* The hook matcher sees only valid types. */
		(void)hook_match("*", ev.type);
		(void)hook_match("payment_intent.*", ev.type);
		event_free(&ev);
	}
	free(body);
	return 0;
}
