/*
 * Fuzz target: the configuration file parser (stripehook.conf(5)).
 * config_load() takes a path, so the input is written to a memory file
 * (memfd) of mode 0600 (config_load refuses group- or other-writable files,
 * and a memfd starts as 0777) and loaded through /proc/self/fd/N.  No disk
 * I/O.
 *
 * Besides "no crash, no leak", it checks stripehook.conf(5)'s promises on
 * what a loaded configuration holds: values within their ranges, absolute
 * paths, hooks with an absolute program, env entries NAME=VALUE with a
 * PATH. Failure must come with at least one error naming the file.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stripehook.h"
#include "fuzz.h"

static int	 cfg_fd = -1;
static char	 cfg_path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if ((cfg_fd = memfd_create("stripehook-fuzz.conf", MFD_CLOEXEC)) == -1 ||
	    fchmod(cfg_fd, 0600) == -1) {
		perror("memfd");
		abort();
	}
	snprintf(cfg_path, sizeof(cfg_path), "/proc/self/fd/%d", cfg_fd);
	return 0;
}

static void
check_config(const struct sh_config *cfg)
{
	size_t	 i, npath = 0;

	FUZZ_ASSERT(cfg->secret_file != NULL && cfg->secret_file[0] == '/');
	FUZZ_ASSERT(cfg->tolerance >= 1 && cfg->tolerance <= SH_MAX_TOLERANCE);
	FUZZ_ASSERT(cfg->max_body >= 1 && cfg->max_body <= SH_MAX_MAX_BODY);
	FUZZ_ASSERT(cfg->hook_timeout >= 1 &&
	    cfg->hook_timeout <= SH_MAX_HOOK_TIMEOUT);
	FUZZ_ASSERT(cfg->state_ttl >= SH_MIN_STATE_TTL &&
	    cfg->state_ttl <= SH_MAX_STATE_TTL);
	FUZZ_ASSERT(cfg->state_dir == NULL || cfg->state_dir[0] == '/');
	FUZZ_ASSERT(cfg->secrets.n == 0);
	for (i = 0; i < cfg->nhooks; i++) {
		FUZZ_ASSERT(cfg->hooks[i].pattern != NULL);
		FUZZ_ASSERT(cfg->hooks[i].argv != NULL &&
		    cfg->hooks[i].argv[0] != NULL &&
		    cfg->hooks[i].argv[0][0] == '/');
		FUZZ_ASSERT(cfg->hooks[i].identity != NULL);
		(void)hook_match(cfg->hooks[i].pattern,
		    "payment_intent.succeeded");
	}
	FUZZ_ASSERT(cfg->env != NULL);
	for (i = 0; i < cfg->nenv; i++) {
		FUZZ_ASSERT(cfg->env[i] != NULL &&
		    strchr(cfg->env[i], '=') != NULL);
		FUZZ_ASSERT(strncmp(cfg->env[i], "STRIPE_", 7) != 0);
		if (strncmp(cfg->env[i], "PATH=", 5) == 0)
			npath++;
	}
	FUZZ_ASSERT(cfg->env[cfg->nenv] == NULL);
	FUZZ_ASSERT(npath == 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sh_config *cfg;
	struct sh_diag	 diag;
	size_t		 i;

	if (ftruncate(cfg_fd, 0) == -1 ||
	    pwrite(cfg_fd, data, size, 0) != (ssize_t)size)
		abort();
	memset(&diag, 0, sizeof(diag));
	cfg = config_load(cfg_path, &diag);
	if (cfg != NULL) {
		check_config(cfg);
		config_free(cfg);
	} else {
		FUZZ_ASSERT(diag.nerrors > 0);
		for (i = 0; i < diag.nerrors; i++)
			FUZZ_ASSERT(strncmp(diag.errors[i], cfg_path,
			    strlen(cfg_path)) == 0);
	}
	diag_free(&diag);
	return 0;
}
