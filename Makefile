# reflink-shim — see README.md.
#   make            build/libreflink-shim.so and build/reflink-shim
#   make test       the test suite (bats; root for the filesystem tests)
#   make demo       a 256 MiB copy with and without the shim, side by side
#   make bench      performance tables (bench/bench.sh)
#   make install    PREFIX=/usr/local DESTDIR= (make uninstall to remove)
#   make deb        build/reflink-shim_VERSION_ARCH.deb (Debian's dpkg-deb)

VERSION  := 0.1.0
CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
# Every wrapper must run on a 16 KiB thread stack and an 8 KiB signal stack
# (docs/DESIGN.md): no frame may be large. (Sanitizer builds grow frames and
# turn the check off.)
FRAME    ?= -Wframe-larger-than=1024
# initial-exec TLS: no __tls_get_addr to import (shim/libc.c).
LIBFLAGS := -std=gnu11 -fPIC -fvisibility=hidden -ftls-model=initial-exec -pthread $(WARN) $(FRAME)
# aarch64: GCC's default outline atomics call helpers in libgcc whose
# constructor imports getauxval (a lookup in every process start, and a
# constructor before ours); inline LL/SC atomics run on every ARMv8.
ifneq ($(filter aarch64%,$(shell $(CC) -dumpmachine)),)
LIBFLAGS += -mno-outline-atomics
endif
B        := build
# The compiler's multiarch triplet (x86_64-linux-gnu), empty if it has none:
# the Debian package's library directory, where the wrapper looks.
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)

SRCS := $(wildcard shim/*.c)
LIB_SRCS := $(filter-out shim/reflink-shim.c,$(SRCS))
HDRS := $(wildcard shim/*.h) shim/symbols.def

EXAMPLES := $(patsubst examples/%.c,$(B)/examples/%,$(wildcard examples/*.c))

all: $(B)/libreflink-shim.so $(B)/reflink-shim $(EXAMPLES)

$(B):
	mkdir -p $@

# Only the interposed names are exported: the list comes from symbols.def.
$(B)/shim.map: shim/symbols.def | $(B)
	{ echo '{ global:'; \
	  $(CC) -E -P -x c -D'REQ(n,r,p,...)=n;' -D'OPT(n,r,p,...)=n;' -D'ALIAS(n,t)=n;' -D'OWN(n)=n;' $<; \
	  echo 'local: *; };'; } > $@

# The *64 names are the same functions on LP64: linker aliases.
$(B)/aliases.flags: shim/symbols.def | $(B)
	$(CC) -E -P -x c -D'REQ(n,r,p,...)=' -D'OPT(n,r,p,...)=' -D'ALIAS(n,t)=-Wl,--defsym=n=t' -D'OWN(n)=' $< | tr -s ' \n' '  ' > $@

# -z now: no lazy binding, whose resolver saves every register on the stack
# of whatever thread or signal handler first calls through the PLT.
# Start-up cost (tests/startup.bats): every symbol reference costs a lookup
# in every process start, and every needed library a search by name. So no
# C runtime start files (four weak references for features we do not use),
# no imports at all (shim/libc.c), hence no DT_NEEDED (libc, which every
# program we are preloaded into has, is initialised before a preloaded
# library without dependencies), and our own calls to our exported
# functions bound at link time (-Bsymbolic-functions); no partial page of
# .bss for the loader to clear (shim/pad.ld). -z nodelete: pointers into us
# outlive any dlclose.
LIBLINK := -nostartfiles -Wl,-z,defs -Wl,-z,now -Wl,-z,nodelete -Wl,-Bsymbolic-functions -Wl,-T,shim/pad.ld
$(B)/libreflink-shim.so: $(LIB_SRCS) $(HDRS) shim/pad.ld $(B)/shim.map $(B)/aliases.flags
	$(CC) $(CFLAGS) $(LIBFLAGS) -shared -o $@ $(LIB_SRCS) \
		-Wl,--version-script=$(B)/shim.map $$(cat $(B)/aliases.flags) $(LIBLINK)

$(B)/reflink-shim: shim/reflink-shim.c shim/fsname.c shim/fsname.h | $(B)
	$(CC) $(CFLAGS) -std=gnu11 $(WARN) -DREFLINK_SHIM_VERSION='"$(VERSION)"' \
		$(if $(MULTIARCH),-DREFLINK_SHIM_MULTIARCH='"$(MULTIARCH)"') -o $@ shim/reflink-shim.c shim/fsname.c

$(B)/examples/%: examples/%.c | $(B)
	@mkdir -p $(B)/examples
	$(CC) $(CFLAGS) -std=gnu11 $(WARN) -pthread -o $@ $<

# Alpine/musl containers: the same library built against musl, and a
# musl-linked copier to test it with (tests/musl.bats).
MUSL_CC ?= musl-gcc
musl: $(B)/musl/libreflink-shim.so $(B)/musl/cp-rw $(B)/musl/everycall

$(B)/musl/libreflink-shim.so: $(LIB_SRCS) $(HDRS) shim/pad.ld $(B)/shim.map $(B)/aliases.flags
	@mkdir -p $(B)/musl
	$(MUSL_CC) $(CFLAGS) $(LIBFLAGS) -shared -o $@ $(LIB_SRCS) \
		-Wl,--version-script=$(B)/shim.map $$(cat $(B)/aliases.flags) $(LIBLINK)

$(B)/musl/cp-rw: examples/cp-rw.c
	@mkdir -p $(B)/musl
	$(MUSL_CC) $(CFLAGS) -std=gnu11 $(WARN) -o $@ $<

# Every wrapped name called, directly and through syscall(), under glibc and
# musl (tests/everycall.bats): the calls are generated from symbols.def.
# (-ldl -lrt: dlsym and aio lived there before glibc 2.34.)
EVERYCALL := tests/progs/everycall.c tests/progs/common.h shim/symbols.def shim/fallback.h shim/real.h shim/kernel.h
$(B)/tests/everycall: $(EVERYCALL) | $(B)
	@mkdir -p $(B)/tests
	$(CC) $(CFLAGS) -std=gnu11 $(WARN) -Ishim -pthread -o $@ $< -ldl -lrt

$(B)/musl/everycall: $(EVERYCALL)
	@mkdir -p $(B)/musl
	$(MUSL_CC) $(CFLAGS) -std=gnu11 $(WARN) -Ishim -pthread -o $@ $< -ldl -lrt

# Test helper programs (scenario copiers, checkers). -lrt: the aio
# functions, in librt before glibc 2.34.
TEST_PROGS := $(patsubst tests/progs/%.c,$(B)/tests/%,$(wildcard tests/progs/*.c))
$(B)/tests/%: tests/progs/%.c tests/progs/common.h | $(B)
	@mkdir -p $(B)/tests
	$(CC) $(CFLAGS) -std=gnu11 $(WARN) -pthread -o $@ $< -lrt
# shmindex makes segments in the index's layout and with its magic;
# invisible looks for the index's key in its maps.
$(B)/tests/shmindex $(B)/tests/invisible: shim/share.h

$(B)/tests/early.so: tests/progs/early.c tests/progs/common.h | $(B)
	@mkdir -p $(B)/tests
	$(CC) $(CFLAGS) -std=gnu11 $(WARN) -pthread -shared -fPIC -o $@ $<

$(B)/tests/faults.so $(B)/tests/coarse.so: $(B)/tests/%.so: tests/progs/%.c tests/progs/common.h | $(B)
	@mkdir -p $(B)/tests
	$(CC) $(CFLAGS) -std=gnu11 $(WARN) -shared -fPIC -o $@ $< -ldl

# shim/elfsym.c on its own, checked against dlsym (tests/startup.bats).
$(B)/tests/lookup.so: tests/progs/lookup.c shim/elfsym.c shim/elfsym.h shim/symbols.def | $(B)
	@mkdir -p $(B)/tests
	$(CC) $(CFLAGS) -std=gnu11 $(WARN) -shared -fPIC -fvisibility=hidden -Ishim -o $@ tests/progs/lookup.c shim/elfsym.c -ldl

TEST_SOS := $(B)/tests/early.so $(B)/tests/faults.so $(B)/tests/coarse.so $(B)/tests/lookup.so
test-progs: $(filter-out $(TEST_SOS:.so=),$(TEST_PROGS)) $(TEST_SOS)

test: all test-progs
	tests/run.sh

demo: all test-progs
	examples/demo.sh

# Installed layout: the wrapper finds the library in ../lib/reflink-shim/
# relative to itself, or in ../lib/$(MULTIARCH)/reflink-shim/, where make deb
# puts it (LIBSUB: no other value is looked for).
PREFIX  ?= /usr/local
DESTDIR ?=
LIBSUB  ?= lib/reflink-shim
BINDIR  := $(DESTDIR)$(PREFIX)/bin
LIBDIR  := $(DESTDIR)$(PREFIX)/$(LIBSUB)
MANDIR  := $(DESTDIR)$(PREFIX)/share/man/man1
DOCDIR  := $(DESTDIR)$(PREFIX)/share/doc/reflink-shim

install: $(B)/libreflink-shim.so $(B)/reflink-shim
	install -d $(BINDIR) $(LIBDIR) $(MANDIR) $(DOCDIR)
	install -m 755 $(B)/reflink-shim $(BINDIR)/reflink-shim
	# a new inode, then rename: running processes keep the old mapping
	install -m 644 $(B)/libreflink-shim.so $(LIBDIR)/.libreflink-shim.so.new
	mv -f $(LIBDIR)/.libreflink-shim.so.new $(LIBDIR)/libreflink-shim.so
	install -m 644 docs/reflink-shim.1 $(MANDIR)/reflink-shim.1
	install -m 644 README.md docs/DESIGN.md $(DOCDIR)/

uninstall:
	rm -f $(BINDIR)/reflink-shim $(LIBDIR)/libreflink-shim.so $(MANDIR)/reflink-shim.1 \
		$(DOCDIR)/README.md $(DOCDIR)/DESIGN.md
	-rmdir $(LIBDIR) $(DOCDIR) 2>/dev/null

# The Debian package: make install's files, staged with PREFIX=/usr and the
# library in /usr/lib/$(MULTIARCH)/reflink-shim/, packed by pkg/deb.sh with
# Debian's own tools (dpkg-deb, dpkg-shlibdeps; package dpkg-dev).
# make check-deb installs it into a fresh Debian 12 root, copies there on a
# loop XFS and removes it (tests/deb.bats; root; builds the root once).
deb: $(B)/libreflink-shim.so $(B)/reflink-shim
	rm -rf $(B)/deb
	$(MAKE) -s install B=$(B) DESTDIR=$(abspath $(B))/deb/root PREFIX=/usr LIBSUB=lib/$(MULTIARCH)/reflink-shim
	pkg/deb.sh $(B)/deb/root $(VERSION) $(MULTIARCH) $(B)

check-deb: deb test-progs
	SHIM_CHECK_DEB=1 tests/run.sh tests/deb.bats

# Tables of times, ratios and space (bench/bench.sh; root, about an hour with
# the default sizes; BENCH_QUICK=1 for a minute-long smoke run).
bench: all test-progs
	bench/bench.sh

# Sanitizer builds of the library and the test programs, running the
# scenario-based tests (here, builds included: check-asan 70-85 s,
# check-tsan 25-40 s; .ci/run runs both after make test). tests/run.sh sends
# every sanitizer report to a file and the test that was running fails with
# it, symbolized (tests/helpers.bash: teardown).
SAN_TESTS := tests/copy.bats tests/contract.bats tests/lifecycle.bats tests/faults.bats tests/fallback.bats
ASAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
check-asan:
	$(MAKE) B=build/asan CFLAGS="-O1 -g $(ASAN)" FRAME= all test-progs
	SHIM_SANITIZER=1 SHIM_BUILD=build/asan SHIM_PRELOAD_FIRST=$$($(CC) -print-file-name=libasan.so) \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:verify_asan_link_order=0 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 tests/run.sh $(SAN_TESTS)

# TSan: the sanitizer's runtime calls mmap/open/read while it initialises,
# reaching our wrappers before it can run instrumented code; so only the
# logic (where races would be) is instrumented, not the interposition layer.
TSAN_LOGIC := shim/copy.c shim/window.c shim/gate.c shim/clone.c shim/fdtab.c
build/tsan/libreflink-shim.so: $(LIB_SRCS) $(HDRS) $(B)/shim.map $(B)/aliases.flags
	@mkdir -p build/tsan/obj
	for f in $(LIB_SRCS); do \
		san=; case " $(TSAN_LOGIC) " in *" $$f "*) san=-fsanitize=thread;; esac; \
		$(CC) -O1 -g $$san -DSHIM_TSAN $(filter-out $(FRAME),$(LIBFLAGS)) -c -o build/tsan/obj/$$(basename $$f .c).o $$f || exit 1; \
	done
	$(CC) -fsanitize=thread -shared -o $@ build/tsan/obj/*.o \
		-Wl,--version-script=$(B)/shim.map $$(cat $(B)/aliases.flags)

check-tsan: build/tsan/libreflink-shim.so
	$(MAKE) B=build/tsan CFLAGS="-O1 -g -fsanitize=thread" test-progs build/tsan/reflink-shim
	SHIM_SANITIZER=1 SHIM_TSAN=1 SHIM_BUILD=build/tsan TSAN_OPTIONS=halt_on_error=1:report_signal_unsafe=0 \
	tests/run.sh tests/copy.bats tests/lifecycle.bats

# The library cross-built for aarch64 and the copy and contract tests run
# with aarch64 test programs under qemu-user (tests/aarch64.sh says how), on
# loop XFS and btrfs. Root; installs the cross compiler and qemu if missing.
# Here 90 s, build included (13 s), on 2 busy cores.
AARCH64_CC   ?= aarch64-linux-gnu-gcc
AARCH64_PKGS := gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static
check-aarch64:
	@command -v $(AARCH64_CC) >/dev/null && [ -r /usr/lib/binfmt.d/qemu-aarch64.conf ] || \
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(AARCH64_PKGS) >/dev/null; }
	$(MAKE) B=build/aarch64 CC=$(AARCH64_CC) all test-progs
	SHIM_BUILD=build/aarch64 SHIM_RUNNER=tests/aarch64.sh tests/run.sh tests/copy.bats tests/contract.bats

# Debian 11 (glibc 2.31; root): tests/mkroot.sh makes a Debian 11 root
# with debootstrap once, cached in REFLINK_SHIM_ROOTS
# (/var/cache/reflink-shim/roots, 530 MB); tests/oldglibc.sh builds the
# library and test programs in it and runs the tests that meet the C
# library (tests/oldglibc.sh lists them) with the root's dd, cp, python3...
# on loop XFS and btrfs, with the library built there and with the one
# built here; then here, with the one built there. Measured on 2 shared
# cores: 6.5 minutes; the first run adds 55 s (debootstrap).
check-oldglibc: all test-progs
	SHIM_BUILD=$(B) tests/oldglibc.sh

# CPython's file-I/O test suites, plain and under the shim (slow, root).
check-python: all
	tests/thirdparty.sh

clean:
	rm -rf $(B)

.PHONY: all test test-progs demo bench install uninstall deb clean musl check-asan check-tsan check-aarch64 check-python check-deb check-oldglibc
