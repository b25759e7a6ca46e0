/*
 * stripehook: the mode is decided before any argument is read
 * (stripehook(8) DESCRIPTION):
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

/* The commands, with their synopsis after "stripehook [-c file] NAME". */
static const struct command {
	const char	*name;
	const char	*args;
	int		(*fn)(int, char **, const char *);
} cmds[] = {
	{ "serve", "[--listen addr] [--workers n]", serve_main },
	{ "sign", "[--secret-file file] [--timestamp t] [file]", tool_sign },
	{ "verify", "--header value [--secret-file file] [--now t] [file]",
	    tool_verify },
	{ "check", "", tool_check },
	{ "status", "event-id", tool_status },
	{ "replay", "[--dead] [event-id ...]", tool_replay_many },
	{ "forget", "event-id [hook]", tool_forget },
	{ "prune", "[-v]", tool_prune },
	{ "run", "", tool_run },
	{ "list", "[--pending | --dead]", tool_list },
	{ "metrics", "", tool_metrics },
	{ "migrate", "", tool_migrate },
	{ "version", "", NULL },
};
#define NCMDS	(sizeof(cmds) / sizeof(cmds[0]))

/* One command's synopsis line; version takes no -c. */
static void
usage_line(FILE *fp, const char *lead, const struct command *c)
{
	fprintf(fp, "%s stripehook %s%s%s%s\n", lead,
	    c->fn != NULL ? "[-c file] " : "", c->name, *c->args ? " " : "",
	    c->args);
}

/* The whole synopsis: on stdout for --help, on stderr for a mistake. */
static void
usage(FILE *fp)
{
	size_t	 i;

	fputs("usage: stripehook [-c file]\n", fp);
	for (i = 0; i < NCMDS; i++)
		usage_line(fp, "      ", &cmds[i]);
	fputs("       stripehook --help | -h | --version\n"
	    "       stripehook command --help\n", fp);
}

static int
version(void)
{
	printf("stripehook %s\n", PACKAGE_VERSION);
	return fflush(stdout) == 0 ? 0 : 2;
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
			usage(stderr);
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
		usage(stderr);
		return 2;
	}
	if (ai + 1 == argc && (strcmp(argv[ai], "--help") == 0 ||
	    strcmp(argv[ai], "-h") == 0)) {
		usage(stdout);
		return fflush(stdout) == 0 ? 0 : 2;
	}
	if (ai + 1 == argc && strcmp(argv[ai], "--version") == 0)
		return version();
	for (i = 0; i < NCMDS; i++) {
		if (strcmp(argv[ai], cmds[i].name) != 0)
			continue;
		/* Each command answers --help with its own synopsis. */
		if (ai + 2 == argc && strcmp(argv[ai + 1], "--help") == 0) {
			usage_line(stdout, "usage:", &cmds[i]);
			return fflush(stdout) == 0 ? 0 : 2;
		}
		if (cmds[i].fn != NULL)
			return cmds[i].fn(argc - ai, argv + ai, cfgpath);
		if (ai + 1 == argc)
			return version();
		break;
	}
	usage(stderr);
	return 2;
}
