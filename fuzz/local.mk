# Fuzz targets (included from Makefile.am).
#
# In every build, `make check` replays each target's seed corpus through
# an ordinary driver (fuzz/replay.c linked with the target), so any input
# committed to fuzz/corpus/NAME/ -- a seed or a crash once found -- keeps
# being checked, under the sanitizers and valgrind too (the replay drivers
# are plain check programs, so LOG_COMPILER applies to them).
#
# With --enable-fuzzing, the libFuzzer binaries fuzz/fuzz_NAME are built
# as well.  That build must be configured with clang, the sanitizers and
# coverage instrumentation for every object, as scripts/fuzz does:
#   CC=clang CFLAGS='-g -O1 -fsanitize=fuzzer-no-link' \
#       configure --enable-fuzzing --enable-asan --enable-ubsan

FUZZ_REPLAY = \
	fuzz/replay_sighdr \
	fuzz/replay_event \
	fuzz/replay_config \
	fuzz/replay_request \
	fuzz/replay_fcgi
check_PROGRAMS += $(FUZZ_REPLAY)
TESTS += $(FUZZ_REPLAY)

FUZZ_REPLAY_COMMON = fuzz/replay.c fuzz/fuzz.h

fuzz_replay_sighdr_SOURCES = fuzz/fuzz_sighdr.c $(FUZZ_REPLAY_COMMON)
fuzz_replay_sighdr_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"sighdr"'
fuzz_replay_sighdr_LDADD = libstripehook.a $(SH_LIBS)
fuzz_replay_event_SOURCES = fuzz/fuzz_event.c $(FUZZ_REPLAY_COMMON)
fuzz_replay_event_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"event"'
fuzz_replay_event_LDADD = libstripehook.a $(SH_LIBS)
fuzz_replay_config_SOURCES = fuzz/fuzz_config.c $(FUZZ_REPLAY_COMMON)
fuzz_replay_config_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"config"'
fuzz_replay_config_LDADD = libstripehook.a $(SH_LIBS)
fuzz_replay_request_SOURCES = fuzz/fuzz_request.c $(FUZZ_REPLAY_COMMON)
fuzz_replay_request_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"request"'
fuzz_replay_request_LDADD = libstripehook.a $(SH_LIBS)
fuzz_replay_fcgi_SOURCES = fuzz/fuzz_fcgi.c $(FUZZ_REPLAY_COMMON)
fuzz_replay_fcgi_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"fcgi"'
fuzz_replay_fcgi_LDADD = libstripehook.a $(SH_LIBS)

if FUZZING
FUZZ_TARGETS = \
	fuzz/fuzz_sighdr \
	fuzz/fuzz_event \
	fuzz/fuzz_config \
	fuzz/fuzz_request \
	fuzz/fuzz_fcgi
noinst_PROGRAMS = $(FUZZ_TARGETS)
FUZZER_LINK = $(AM_LDFLAGS) -fsanitize=fuzzer

fuzz_fuzz_sighdr_SOURCES = fuzz/fuzz_sighdr.c fuzz/fuzz.h
fuzz_fuzz_sighdr_LDFLAGS = $(FUZZER_LINK)
fuzz_fuzz_sighdr_LDADD = libstripehook.a $(SH_LIBS)
fuzz_fuzz_event_SOURCES = fuzz/fuzz_event.c fuzz/fuzz.h
fuzz_fuzz_event_LDFLAGS = $(FUZZER_LINK)
fuzz_fuzz_event_LDADD = libstripehook.a $(SH_LIBS)
fuzz_fuzz_config_SOURCES = fuzz/fuzz_config.c fuzz/fuzz.h
fuzz_fuzz_config_LDFLAGS = $(FUZZER_LINK)
fuzz_fuzz_config_LDADD = libstripehook.a $(SH_LIBS)
fuzz_fuzz_request_SOURCES = fuzz/fuzz_request.c fuzz/fuzz.h
fuzz_fuzz_request_LDFLAGS = $(FUZZER_LINK)
fuzz_fuzz_request_LDADD = libstripehook.a $(SH_LIBS)
fuzz_fuzz_fcgi_SOURCES = fuzz/fuzz_fcgi.c fuzz/fuzz.h
fuzz_fuzz_fcgi_LDFLAGS = $(FUZZER_LINK)
fuzz_fuzz_fcgi_LDADD = libstripehook.a $(SH_LIBS)
endif

EXTRA_DIST += \
	fuzz/corpus \
	fuzz/sighdr.dict \
	fuzz/event.dict \
	fuzz/config.dict \
	fuzz/request.dict \
	fuzz/fcgi.dict \
	fuzz/lsan.supp
