/*
 * The libFuzzer entry points, declared for the targets and for replay.c,
 * which runs the same entry point over a corpus in an ordinary build.
 */
#ifndef STRIPEHOOK_FUZZ_H
#define STRIPEHOOK_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
/* Optional: every target defines it, replay.c calls it once. */
int	LLVMFuzzerInitialize(int *, char ***);

/* A fuzz target found a broken invariant: abort so that both libFuzzer
 * and the replay driver report it with the input. */
#define FUZZ_ASSERT(c) do {						\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #c);				\
		abort();						\
	}								\
} while (0)

#endif /* STRIPEHOOK_FUZZ_H */
