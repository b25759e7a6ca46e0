/*
 * The one table that maps an outcome to its HTTP status and error string
 * (stripehook(8) REQUESTS).  Nothing else in the program chooses a status.
 */
#include "config.h"

#include "stripehook.h"

static const struct {
	int		 status;
	const char	*reason;
	const char	*string;
} errtab[SH_E__MAX] = {
	[SH_OK]			= { 200, "OK", "" },
	[SH_E_CONFIG]		= { 500, "Internal Server Error", "internal error" },
	[SH_E_METHOD]		= { 405, "Method Not Allowed", "method not allowed" },
	[SH_E_LENGTH_REQUIRED]	= { 411, "Length Required", "length required" },
	[SH_E_BAD_LENGTH]	= { 400, "Bad Request", "bad content length" },
	[SH_E_TOO_LARGE]	= { 413, "Payload Too Large", "body too large" },
	[SH_E_INCOMPLETE]	= { 400, "Bad Request", "incomplete body" },
	[SH_E_NO_SIG]		= { 400, "Bad Request", "missing signature" },
	[SH_E_MALFORMED_SIG]	= { 400, "Bad Request", "malformed signature" },
	[SH_E_NO_V1]		= { 400, "Bad Request", "no v1 signature" },
	[SH_E_SIG_MISMATCH]	= { 400, "Bad Request", "signature mismatch" },
	[SH_E_TOLERANCE]	= { 400, "Bad Request", "timestamp outside tolerance" },
	[SH_E_JSON]		= { 400, "Bad Request", "invalid json" },
	[SH_E_NOT_EVENT]	= { 400, "Bad Request", "not an event" },
	[SH_E_EVENT_ID]		= { 400, "Bad Request", "invalid event id" },
	[SH_E_EVENT_TYPE]	= { 400, "Bad Request", "invalid event type" },
	[SH_E_IN_PROGRESS]	= { 409, "Conflict", "event in progress" },
	[SH_E_STATE]		= { 500, "Internal Server Error", "internal error" },
	[SH_E_HOOK]		= { 500, "Internal Server Error", "hook failed" },
};

static enum sh_err
clamp(enum sh_err e)
{
	return ((unsigned)e < SH_E__MAX) ? e : SH_E_CONFIG;
}

int
sh_err_status(enum sh_err e)
{
	return errtab[clamp(e)].status;
}

const char *
sh_err_reason(enum sh_err e)
{
	return errtab[clamp(e)].reason;
}

const char *
sh_err_string(enum sh_err e)
{
	return errtab[clamp(e)].string;
}
