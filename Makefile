# hotstandby — build, test, demo, install.
# Out-of-tree objects: build/ (normal) and build-san/ (address + undefined sanitizers).

VERSION   := 0.1.0
PREFIX    ?= /usr/local
DESTDIR   ?=
# Install locations (GNU names). The binaries know sysconfdir and pkgdatadir (the config's
# default path, schema.sql in the no-DDL-rights error), so changing them rebuilds.
sbindir    ?= $(PREFIX)/sbin
datadir    ?= $(PREFIX)/share
pkgdatadir ?= $(datadir)/hotstandby
mandir     ?= $(datadir)/man
sysconfdir ?= /etc
unitdir    ?= /etc/systemd/system
B         ?= build
CC        ?= gcc
SAN       ?=
JOBS      ?= -j2

CFLAGS    ?= -O2 -g
CFLAGS    += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wno-format-truncation \
             -Icommon -DHS_VERSION='"$(VERSION)"' $(PATH_DEFS) $(SAN)
LDFLAGS   += $(SAN)

LIBS_NOPQ   := $(shell pkg-config --libs jansson) -lpthread
LIBS_COMMON := $(shell pkg-config --libs libpq) $(LIBS_NOPQ)
CFLAGS    += $(shell pkg-config --cflags libpq jansson libssh2 libcurl libmnl ldns krb5-gssapi)

LIBS_heartbeatd := $(LIBS_COMMON)
LIBS_watchd     := $(LIBS_COMMON) $(shell pkg-config --libs libcurl)
LIBS_vipctl     := $(LIBS_COMMON) $(shell pkg-config --libs libmnl ldns libcurl krb5-gssapi krb5)
# syncd links common/pq_lazy.o, not libpq (pq_lazy.h says why).
LIBS_syncd      := $(LIBS_NOPQ) $(shell pkg-config --libs libssh2) -linotifytools
LIBS_clone      := $(LIBS_COMMON) $(shell pkg-config --libs libssh2 libmnl)

DAEMON_DIRS := heartbeatd watchd vipctl syncd clone
BIN_heartbeatd := heartbeatd
BIN_watchd     := watchd
BIN_vipctl     := vipctl
BIN_syncd      := syncd
BIN_clone      := hotstandby-clone

# pq_lazy.c is linked only by the programs that load libpq lazily (pq_lazy.h), never
# through libhs.a, where it would stand in for -lpq in every program.
COMMON_SRCS := $(filter-out common/pq_lazy.c,$(wildcard common/*.c))
COMMON_OBJS := $(COMMON_SRCS:%.c=$(B)/obj/%.o) $(B)/obj/common/schema_sql.o $(B)/obj/common/license_txt.o
LIBHS       := $(B)/libhs.a

BINS := $(foreach d,$(DAEMON_DIRS),$(if $(wildcard $(d)/main.c),$(B)/$(BIN_$(d)))) $(B)/vipctl-full

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)

.SECONDARY:
.PHONY: all check unit fuzz bench demo install uninstall units clean format FORCE drill
all: $(BINS)

PATH_DEFS := -DHS_SYSCONFDIR='"$(sysconfdir)"' -DHS_PKGDATADIR='"$(pkgdatadir)"' -DHS_SBINDIR='"$(sbindir)"'
# Rewritten only when the install paths change, so that objects are rebuilt exactly then.
$(B)/paths.stamp: FORCE
	@mkdir -p $(B)
	@echo '$(PATH_DEFS)' | cmp -s - $@ || echo '$(PATH_DEFS)' > $@
FORCE:

# Objects live under $(B)/obj/ so that build/watchd (a binary) is not also a directory.
$(B)/obj/%.o: %.c $(B)/paths.stamp
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# schema.sql is compiled into libhs so every binary applies the same schema.
$(B)/obj/common/schema_sql.c: common/schema.sql
	@mkdir -p $(dir $@)
	{ echo 'const char db_schema_sql[] = {'; od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; echo '0x00};'; } > $@
$(B)/obj/common/schema_sql.o: $(B)/obj/common/schema_sql.c
	$(CC) $(CFLAGS) -c $< -o $@
# So is LICENSE, which -V prints.
$(B)/obj/common/license_txt.c: LICENSE
	@mkdir -p $(dir $@)
	{ echo 'const char hs_license[] = {'; od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; echo '0x00};'; } > $@
$(B)/obj/common/license_txt.o: $(B)/obj/common/license_txt.c
	$(CC) $(CFLAGS) -c $< -o $@

$(LIBHS): $(COMMON_OBJS)
	@rm -f $@
	ar rcs $@ $^

define bin_rule
$(B)/$(BIN_$(1)): $(patsubst %.c,$(B)/obj/%.o,$(wildcard $(1)/*.c)) $(LIBHS)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $(LIBS_$(1))
endef
$(foreach d,$(filter-out vipctl,$(DAEMON_DIRS)),$(eval $(call bin_rule,$(d))))
$(B)/$(BIN_syncd): $(B)/obj/common/pq_lazy.o
# hotstandby-clone upgrade reads the answer of `syncd --serve` with syncd's own decoder.
$(B)/$(BIN_clone): $(B)/obj/syncd/proto.o

# vipctl is two binaries (vipctl/front.c says why): `vipctl` runs the address verbs on the
# promotion path and links libmnl only; vipctl-full has every verb and every library.
VIPCTL_FRONT_OBJS := $(patsubst %,$(B)/obj/vipctl/%.o,front vipaddr vip announce lease)
$(B)/vipctl: $(VIPCTL_FRONT_OBJS) $(LIBHS)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs libmnl)
$(B)/vipctl-full: $(filter-out %/front.o,$(patsubst %.c,$(B)/obj/%.o,$(wildcard vipctl/*.c))) $(LIBHS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_vipctl)

# Unit tests link the pure modules of a daemon (no main.c) against libhs and cmocka.
# Through an archive, so a test pulls in only the modules it uses: the others may call
# into their daemon's main.c, which a test does not have.
UNIT_LINK = $(filter-out %/main.o %/front.o,$(foreach d,$(DAEMON_DIRS),$(patsubst %.c,$(B)/obj/%.o,$(wildcard $(d)/*.c))))
$(B)/libunit.a: $(UNIT_LINK)
	@rm -f $@
	ar rcs $@ $^
$(B)/tests/test_%: $(B)/obj/tests/unit/test_%.o $(B)/libunit.a $(LIBHS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs cmocka libmnl ldns libssh2 libcurl krb5-gssapi krb5) -linotifytools $(LIBS_COMMON)

unit: $(UNIT_BINS)

# The multi-cluster load generator (tests/bench/bench-clusters.sh): libhs and watchd's role.c.
$(B)/tests/hs-loadgen: $(B)/obj/tests/tools/hs-loadgen.o $(B)/libunit.a $(LIBHS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_COMMON)

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

# make check: both builds, the fuzz targets for 10 s each, then the whole suite on the normal
# build and under ASan+UBSan, three tests at once. The last line is prove's "Result: PASS".
check:
	$(MAKE) $(JOBS) all unit
	$(MAKE) $(JOBS) all unit B=build-san SAN='-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined'
	FUZZ_SECONDS=$${FUZZ_SECONDS:-10} tests/fuzz/build-and-run
	HS_BUILDS="build build-san" tests/run-all

fuzz:
	tests/fuzz/build-and-run

bench: all $(B)/tests/hs-loadgen
	tests/bench/run-all

# The fault drill: FAULTS random faults (default 500), SEED replays a run, NODES (2 or 3),
# BUDGET: no new fault after that many seconds.
# HS_BIN=$$PWD/build-san runs it on the sanitizer build.
FAULTS ?= 500
drill: all
	tests/drill/drill -n $(FAULTS) $(if $(SEED),-s $(SEED)) $(if $(NODES),-N $(NODES)) $(if $(BUDGET),-b $(BUDGET))

demo:
	bash scripts/deps.sh
	$(MAKE) $(JOBS) all
	bash scripts/demo.sh

# Units are generated from templates so that their paths follow the install variables.
UNIT_TEMPLATES := $(wildcard */*.service.in */*.timer.in)
UNITS := $(patsubst %.in,$(B)/units/%,$(notdir $(UNIT_TEMPLATES)))
vpath %.in $(sort $(dir $(UNIT_TEMPLATES)))
$(B)/units/%: %.in $(B)/paths.stamp
	@mkdir -p $(dir $@)
	sed -e 's|@sbindir@|$(sbindir)|g' -e 's|@sysconfdir@|$(sysconfdir)|g' \
	    -e 's|@pkgdatadir@|$(pkgdatadir)|g' $< > $@
units: $(UNITS)

SCRIPTS := scripts/Clone_primary_server.sh scripts/Configure_failover_server.sh
MAN8 := $(wildcard */*.8)
MAN5 := $(wildcard */*.5)
INSTALL_ENV = DESTDIR='$(DESTDIR)' sbindir='$(sbindir)' pkgdatadir='$(pkgdatadir)' mandir='$(mandir)' \
              sysconfdir='$(sysconfdir)' unitdir='$(unitdir)'

# make install: binaries, schema.sql, man pages, units, the example config, and the config
# itself only when there is none; make uninstall removes exactly that (scripts/install.sh).
install: all units
	$(INSTALL_ENV) sh scripts/install.sh install $(BINS) $(SCRIPTS) common/schema.sql $(MAN8) $(MAN5) $(UNITS) hotstandby.conf.example

uninstall:
	$(INSTALL_ENV) sh scripts/install.sh uninstall

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san tests/fuzz/build
