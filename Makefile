# mitofs — one entry point: build, test, demo, bench, deps, install.
#
#   make            build/mitofs (the daemon, with the static stub embedded)
#   make test       deps, build, unit tests, integration tests on real mounts
#   make test-asan  the same suite with the daemon under ASan/UBSan
#   make fuzz       libFuzzer on the wire decoders, FUZZ_SECONDS each (optional)
#   make demo       deps, build, mount ./mnt with a local context and show it
#   make bench      side-by-side measurements against the peers (BENCH_ROWS=...)
#   make install    /usr/local/bin/mitofs and its man page, mitofs(1)

VERSION  = 0.1.0
PREFIX  ?= /usr/local
MANDIR  ?= $(PREFIX)/share/man
B       ?= build
CC      ?= cc
MUSLCC  ?= musl-gcc
WARN     = -Wall -Wextra -Werror -Wno-format-truncation
CSTD     = -std=gnu11
OPT     ?= -O2 -g
SAN     ?=
CFLAGS_ALL = $(CSTD) $(WARN) $(OPT) $(SAN) -D_GNU_SOURCE -Icore
FUSE_CFLAGS := $(shell pkg-config --cflags fuse3 2>/dev/null)
FUSE_LIBS   := $(shell pkg-config --libs fuse3 2>/dev/null)
SSH_LIBS    := $(shell pkg-config --libs libssh 2>/dev/null)

# Debian packages the build, the tests and the demo need. The :arm64 ones
# need the foreign architecture, which `make deps` adds (dpkg
# --add-architecture arm64) before it installs them: the aarch64 stub is
# built with Debian's cross gcc and musl for arm64, and tests run it (and
# busybox-static:arm64) under qemu-user through binfmt_misc.
DEPS = build-essential pkg-config libfuse3-dev fuse3 zlib1g-dev libssh-dev \
       libcriterion-dev musl-tools openssh-server openssh-client procps psmisc \
       sudo opendoas iproute2 iptables busybox python3 attr git util-linux \
       gcc-aarch64-linux-gnu musl-dev:arm64 zlib1g-dev:arm64 qemu-user-static tree man-db file

CORE_SRC = $(wildcard core/*.c)
FS_SRC   = $(wildcard fs/*.c)
STUB_SRC = $(wildcard stub/*.c)
UNIT_SRC = $(wildcard tests/unit/test_*.c)

CORE_OBJ = $(CORE_SRC:%.c=$(B)/%.o)
FS_OBJ   = $(FS_SRC:%.c=$(B)/%.o)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

# The stub is built with musl, statically, and links core only: once per
# arch the daemon embeds (x86_64 in $(B)/musl, the others in
# $(B)/musl-ARCH); the first stage's `uname -m` picks one on the target.
# Debian's zlib headers and libz.a of that arch come with -idirafter.
# -Oz: its own code is a small part of a stub's time (syscalls, zlib and
# libc are the rest) and each page of it is resident in every stub.
STUB_CFLAGS = $(CSTD) $(WARN) -Oz -D_GNU_SOURCE -Icore -ffunction-sections \
              -fdata-sections -fno-asynchronous-unwind-tables -idirafter /usr/include
STUB_OBJ = $(CORE_SRC:%.c=$(B)/musl/%.o) $(STUB_SRC:%.c=$(B)/musl/%.o)
LIBZ_A  ?= /usr/lib/x86_64-linux-gnu/libz.a
STUB_ARCHES_CROSS = aarch64
STUB_CC_aarch64    = aarch64-linux-musl-gcc
STUB_STRIP_aarch64 = aarch64-linux-gnu-strip

.PHONY: all deps test unit integration test-asan fuzz fuzz-run demo bench install clean

all: $(B)/mitofs

# --version says this; the commit too when built from git.
GITREV := $(shell git rev-parse --short HEAD 2>/dev/null)
$(B)/fs/opts.o: CFLAGS_ALL += -DMITOFS_VERSION='"$(VERSION)$(if $(GITREV), ($(GITREV)))"'
$(B)/fs/opts.o: $(B)/version
# Rewritten only when the version or commit changed, so opts.o follows.
$(B)/version: FORCE
	@mkdir -p $(B); v='$(VERSION) $(GITREV)'; \
	echo "$$v" | cmp -s - $@ || echo "$$v" > $@
FORCE:

$(B)/%.o: %.c $(wildcard core/*.h fs/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(FUSE_CFLAGS) -Ifs -Istub -c $< -o $@

$(B)/musl/%.o: %.c $(wildcard core/*.h stub/*.h)
	@mkdir -p $(dir $@)
	$(MUSLCC) $(STUB_CFLAGS) -idirafter /usr/include/x86_64-linux-gnu -Istub -c $< -o $@

# Every stub maps all of this file (the kernel maps the pages around
# each fault), so its size is resident in each of 1000 stubs: no unwind
# tables (C without exceptions, musl never unwinds; 24 KB, a tenth of
# it). Read-only data stays out of the executable segment (the
# linker's default), at the price of a page.
STUB_LDFLAGS = -static -Os -Wl,--gc-sections
# strip then warns that the first segment, the ELF headers alone, holds
# no section: true, and meant; other messages pass.
stub_strip = $(1) -R .eh_frame -R .comment $(2) 2>$(2).log; rc=$$?; \
	grep -v 'empty loadable segment' $(2).log >&2; rm -f $(2).log; exit $$rc

$(B)/mitofs-stub: $(STUB_OBJ)
	$(MUSLCC) $(STUB_LDFLAGS) -o $@ $(STUB_OBJ) $(LIBZ_A)
	@$(call stub_strip,strip,$@)

# The same for each other arch: $(B)/mitofs-stub-ARCH.
define stub_cross
$(B)/musl-$(1)/%.o: %.c $(wildcard core/*.h stub/*.h)
	@mkdir -p $$(dir $$@)
	$(STUB_CC_$(1)) $(STUB_CFLAGS) -idirafter /usr/include/$(1)-linux-gnu -Istub -c $$< -o $$@

$(B)/mitofs-stub-$(1): $(CORE_SRC:%.c=$(B)/musl-$(1)/%.o) $(STUB_SRC:%.c=$(B)/musl-$(1)/%.o)
	$(STUB_CC_$(1)) $(STUB_LDFLAGS) -o $$@ $$^ /usr/lib/$(1)-linux-gnu/libz.a
	@$$(call stub_strip,$(STUB_STRIP_$(1)),$$@)
endef
$(foreach a,$(STUB_ARCHES_CROSS),$(eval $(call stub_cross,$(a))))

# The daemon carries the stubs gzip-compressed; the first stage on the
# target unpacks the one for its arch with gzip -dc.
$(B)/mitofs-stub.gz: $(B)/mitofs-stub
	gzip -9n -c $< > $@

$(B)/mitofs-stub-%.gz: $(B)/mitofs-stub-%
	gzip -9n -c $< > $@

$(B)/stub_image.o: fs/stub_image.S $(B)/mitofs-stub.gz $(STUB_ARCHES_CROSS:%=$(B)/mitofs-stub-%.gz)
	$(CC) -c -DSTUB_x86_64='"$(B)/mitofs-stub.gz"' \
	  $(foreach a,$(STUB_ARCHES_CROSS),-DSTUB_$(a)='"$(B)/mitofs-stub-$(a).gz"') $< -o $@

# Test targets' only binary: Debian's busybox-static of each arch, fetched
# with apt-get download and unpacked here (installing it would replace the
# busybox package, which conflicts with it).
$(B)/busybox/%/busybox:
	@rm -rf $(@D) && mkdir -p $(@D)/deb
	cd $(@D)/deb && apt-get download -q busybox-static:$*
	dpkg-deb -x $(@D)/deb/busybox-static_*_$*.deb $(@D)/root
	cp $(@D)/root/bin/busybox $@

# The stub linked dynamically with glibc, for valgrind only: memcheck
# cannot follow malloc in the static musl build.
$(B)/mitofs-stub-dyn: $(CORE_OBJ) $(STUB_SRC:%.c=$(B)/%.o)
	$(CC) $(SAN) -o $@ $^ -lz

$(B)/mitofs: $(CORE_OBJ) $(FS_OBJ) $(B)/stub_image.o
	$(CC) $(SAN) -o $@ $^ $(FUSE_LIBS) $(SSH_LIBS) -lz -lpthread

$(B)/tests/test_%: tests/unit/test_%.c $(CORE_OBJ) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Ifs -Itests/unit -o $@ $< $(CORE_OBJ) $(UNIT_FS_$(notdir $@)) \
	  -lcriterion -lz

# Unit tests of the daemon's pure modules link their fs/ object too.
UNIT_FS_test_pattern = $(B)/fs/pattern.o
$(B)/tests/test_pattern: $(B)/fs/pattern.o
UNIT_FS_test_ring = $(B)/fs/ring.o $(B)/fs/spool.o
$(B)/tests/test_ring: $(B)/fs/ring.o $(B)/fs/spool.o

# Test tool: stub_mangle, a proxy that corrupts the payloads of a real
# stub's messages (tests/integration/t_hostile.sh plants it). Core objects
# only; the integration suite needs it.
$(B)/tests/stub_mangle: tests/tools/stub_mangle.c $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(CORE_OBJ) -lz

# Test tool: sig_ignore, runs a program with signals ignored as a
# careless parent leaves them (t_fault.sh's proxy test).
$(B)/tests/sig_ignore: tests/tools/sig_ignore.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $<

integration: $(B)/tests/stub_mangle $(B)/tests/sig_ignore $(B)/busybox/amd64/busybox $(B)/busybox/arm64/busybox

# --- fuzzing (tests/fuzz/README.md) ---
# Each harness tests/fuzz/fuzz_NAME.c is built twice:
# - for replay, with $(CC), CFLAGS_ALL (and SAN under test-asan) and
#   tests/fuzz/replay.c as main: `make unit` runs it over the committed
#   corpus tests/fuzz/corpus/NAME/ (seeds and fixed bugs' reproducers);
# - for `make fuzz`, with clang's libFuzzer, ASan and UBSan, over core
#   (and fs/ctl.o) compiled again into $(FB). New inputs go to
#   $(FB)/corpus/NAME, findings to $(FB)/crash-NAME-*, never into the repo.
# FUZZ_FS_NAME: the fs/ objects a harness links besides core (fuzz_ctl
# links fs/ctl.o and stubs what that calls in the rest of the daemon).
FUZZ_NAMES   = $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN     = $(FUZZ_NAMES:%=$(B)/tests/fuzz_%)
FUZZ_CC      ?= /usr/bin/clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_FLAGS   ?=
FB           = $(B)/fuzz
FUZZ_SAN     = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  = $(CSTD) -Wall -Wextra -Werror -g -O1 -D_GNU_SOURCE -Icore -Ifs $(FUSE_CFLAGS)
FUZZ_OBJ     = $(CORE_SRC:%.c=$(FB)/%.o)
FUZZ_FS_ctl  = fs/ctl.o
.SECONDARY: $(FUZZ_OBJ) $(FB)/fs/ctl.o

$(B)/tests/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/fuzz.h $(CORE_OBJ) $(B)/fs/ctl.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(FUSE_CFLAGS) -Ifs -o $@ $< tests/fuzz/replay.c \
	  $(CORE_OBJ) $(addprefix $(B)/,$(FUZZ_FS_$*)) -lz

$(FB)/%.o: %.c $(wildcard core/*.h fs/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) -c $< -o $@

$(FB)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_OBJ) $(FB)/fs/ctl.o
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< $(FUZZ_OBJ) \
	  $(addprefix $(FB)/,$(FUZZ_FS_$*)) -lz

# Lines past 4 KiB (ctl's limit, fs's FS_MAX_PATH) and payloads past 64 KiB
# (the stream's spare) need longer inputs than libFuzzer's default.
FUZZ_FLAGS_ctl     = -max_len=8192
FUZZ_FLAGS_fsproto = -max_len=12288
FUZZ_FLAGS_stream  = -max_len=200000

# clang and its libFuzzer runtime are only needed here, so `make test`
# does not install them.
FUZZ_DEPS = clang libclang-rt-14-dev

fuzz:
	$(MAKE) deps DEPS="$(FUZZ_DEPS)"
	$(MAKE) fuzz-run

fuzz-run: $(FUZZ_TARGETS:%=$(FB)/fuzz_%)
	@set -e; $(foreach n,$(FUZZ_TARGETS), \
	  echo "== fuzz_$(n) for $(FUZZ_SECONDS) s"; mkdir -p $(FB)/corpus/$(n); \
	  $(FB)/fuzz_$(n) -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	    -artifact_prefix=$(FB)/crash-$(n)- $(FUZZ_FLAGS_$(n)) $(FUZZ_FLAGS) \
	    $(FB)/corpus/$(n) tests/fuzz/corpus/$(n);)

deps:
	@case " $(DEPS) " in *:arm64*) \
	  dpkg --print-foreign-architectures | grep -qx arm64 || { \
	    echo "adding the arm64 architecture"; dpkg --add-architecture arm64 && apt-get update -q; };; \
	esac; \
	missing=""; for p in $(DEPS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

test: deps
	$(MAKE) all
	$(MAKE) unit integration

unit: $(UNIT_BIN) $(FUZZ_BIN) $(B)/mitofs $(B)/mitofs-stub-dyn
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t --jobs 2; done
	@set -e; for n in $(FUZZ_NAMES); do echo "== $(B)/tests/fuzz_$$n (replay)"; \
	  $(B)/tests/fuzz_$$n tests/fuzz/corpus/$$n/*; done

integration: $(B)/mitofs
	MITOFS=$(abspath $(B)/mitofs) tests/integration/run.sh

test-asan: deps
	LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp):print_suppressions=0 \
	$(MAKE) B=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" all unit integration

demo: deps
	$(MAKE) all
	examples/demo.sh

# BENCH_ROWS picks groups of rows: local, ssh, fs (run.sh), fleet (fleet.sh),
# arch (arch.sh).
bench: deps
	$(MAKE) all
	@rc=0; rows=",$${BENCH_ROWS:-all},"; \
	case $$rows in *,all,*|*,local,*|*,ssh,*|*,fs,*) tests/bench/run.sh || rc=$$?;; esac; \
	case $$rows in *,all,*|*,fleet,*) tests/bench/fleet.sh || rc=$$?;; esac; \
	case $$rows in *,all,*|*,arch,*) tests/bench/arch.sh || rc=$$?;; esac; \
	exit $$rc

install: $(B)/mitofs
	install -D -s -m 0755 $(B)/mitofs $(DESTDIR)$(PREFIX)/bin/mitofs
	install -D -m 0644 docs/mitofs.1 $(DESTDIR)$(MANDIR)/man1/mitofs.1

clean:
	rm -rf build build-asan
