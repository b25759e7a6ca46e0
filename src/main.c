/*
 * stripehook: the mode is decided before any argument is read (SPEC 1):
 * fd 0 a listening socket makes a FastCGI app, a CGI environment makes a
 * CGI program (whose arguments are ignored: Apache turns a query string
 * into arguments), anything else is a command.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stripehook.h"

static void
usage(void)
{
	fputs(
"usage: stripehook [-c file]\n"
"       stripehook [-c file] serve [--listen addr] [--workers n]\n"
"       stripehook [-c file] sign [--secret-file file] [--timestamp t] [file]\n"
"       stripehook [-c file] verify --header value [--secret-file file] [--now t] [file]\n"
"       stripehook [-c file] check\n"
"       stripehook [-c file] status event-id\n"
"       stripehook [-c file] replay [--dead] [event-id ...]\n"
"       stripehook [-c file] forget event-id [hook]\n"
"       stripehook [-c file] prune [-v]\n"
"       stripehook [-c file] run\n"
"       stripehook [-c file] list [--pending | --dead]\n"
"       stripehook [-c file] metrics\n"
"       stripehook [-c file] migrate\n"
"       stripehook version\n", stderr);
}

/* 1 when fd 0 is a listening socket. */
static int
stdin_is_listener(void)
{
	int		 on = 0;
	socklen_t	 len = sizeof(on);

	if (getsockopt(STDIN_FILENO, SOL_SOCKET, SO_ACCEPTCONN, &on,
	    &len) == -1)
		return 0;
	return on != 0;
}

static int
set(const char *name)
{
	const char *v = getenv(name);

	return v != NULL;
}

int
main(int argc, char *argv[])
{
	static const struct {
		const char *name;
		int (*fn)(int, char **, const char *);
	} cmds[] = {
		{ "serve",	serve_main },
		{ "sign",	tool_sign },
		{ "verify",	tool_verify },
		{ "check",	tool_check },
		{ "status",	tool_status },
		{ "replay",	tool_replay_many },
		{ "forget",	tool_forget },
		{ "prune",	tool_prune },
		{ "run",	tool_run },
		{ "list",	tool_list },
		{ "metrics",	tool_metrics },
		{ "migrate",	tool_migrate },
	};
	const char	*cfgpath = NULL;
	struct sigaction sa;
	sigset_t	 none;
	size_t		 i;
	int		 ai = 1;

	log_init("stripehook");
	/*
	 * Whatever started us may have left SIGCHLD ignored (then the kernel
	 * reaps hooks itself and no exit status can be had) or signals
	 * blocked; SIGPIPE is ignored so that a peer gone away is an error
	 * to handle, not the end of the process before its log line.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Keep the secrets out of core dumps and ptrace by other users. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	if (stdin_is_listener()) {
		/* FastCGI app: the only argument accepted is -c FILE. */
		if (argc == 3 && strcmp(argv[1], "-c") == 0)
			cfgpath = argv[2];
		else if (argc != 1) {
			usage();
			return 2;
		}
		return fcgi_main(STDIN_FILENO,
		    cfgpath ? cfgpath : config_default_path());
	}
	if (set("GATEWAY_INTERFACE") || set("REQUEST_METHOD"))
		return cgi_main();

	if (ai + 1 < argc && strcmp(argv[ai], "-c") == 0) {
		cfgpath = argv[ai + 1];
		ai += 2;
	}
	if (ai >= argc) {
		usage();
		return 2;
	}
	if (strcmp(argv[ai], "version") == 0 && ai + 1 == argc) {
		printf("stripehook %s\n", PACKAGE_VERSION);
		return 0;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[ai], cmds[i].name) == 0)
			return cmds[i].fn(argc - ai, argv + ai, cfgpath);
	usage();
	return 2;
}
