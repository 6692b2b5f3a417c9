# imagen - plain Makefile over pkg-config.
#   make            build build/imagen
#   make SAN=1      the same under AddressSanitizer + UBSan, in build-san/
#   make test       install missing Debian packages, then every test (plain and sanitized)
#   make check      every test, without the package step
#   make bench      benchmarks (medians, peak RSS)
#   make fuzz       build every fuzz/*.c with clang's libFuzzer in build-fuzz/ and run each
#                   for FUZZ_SECONDS (default 60); a crash leaves its input in build-fuzz/crashes
#   make install    PREFIX=/usr/local DESTDIR=

VERSION   := 0.1.0
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
MANDIR    ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# zsh looks in $(PREFIX)/share/zsh/site-functions for any prefix but Debian's /usr,
# where that directory is not on $fpath and packages use vendor-completions
ZSHCOMPDIR  ?= $(if $(filter /usr /usr/,$(PREFIX)),$(PREFIX)/share/zsh/vendor-completions,$(PREFIX)/share/zsh/site-functions)
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
PKG_CONFIG ?= pkg-config
PKGS      := yaml-0.1 jansson spng zlib libdeflate libcurl chafa glib-2.0 sqlite3 libexif
FUZZ_CC   ?= clang
FUZZ_SECONDS ?= 60

ifeq ($(SAN),1)
BUILD     ?= build-san
SANFLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT       ?= -O1 -g
else ifeq ($(SAN),fuzz)
# the library instrumented for libFuzzer (coverage, ASan, UBSan); clang only
BUILD     ?= build-fuzz
CC        := $(FUZZ_CC)
SANFLAGS  := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
             -fno-omit-frame-pointer
OPT       ?= -O1 -g
else
BUILD     ?= build
SANFLAGS  :=
OPT       ?= -O2 -g
endif

CC        ?= cc
WARN      := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
             -Wno-unused-parameter -Wvla -Wno-missing-field-initializers
# (tables leave trailing fields out on purpose: an option without a default, a sink
#  that draws no progress; C zeroes them)
CPPFLAGS  += -D_GNU_SOURCE -DIMAGEN_VERSION='"$(VERSION)"' -Isrc
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = -std=c11 $(OPT) $(WARN) $(SANFLAGS) $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)

SRC_DIRS  := util core net cloud backends gen batch catalog cli
LIB_SRC   := $(filter-out src/cli/main.c,$(foreach d,$(SRC_DIRS),$(wildcard src/$(d)/*.c)))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
MAIN_OBJ  := $(BUILD)/src/cli/main.o
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC  := $(wildcard fuzz/*.c)
FUZZ_BIN  := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%)

.PHONY: all test check unit e2e bench install uninstall clean deps format run fuzz fuzz-build
all: $(BUILD)/imagen

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libimagen.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/imagen: $(MAIN_OBJ) $(BUILD)/libimagen.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/tests/%: tests/unit/%.c tests/unit/testlib.h $(BUILD)/libimagen.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(shell $(PKG_CONFIG) --cflags cmocka) -o $@ $< \
		$(BUILD)/libimagen.a $(ALL_LDFLAGS) $(PKG_LIBS) $(shell $(PKG_CONFIG) --libs cmocka) -lm

unit: $(UNIT_BIN)

# One libFuzzer harness per fuzz/NAME.c (seeds in fuzz/corpus/NAME/), linked against the
# instrumented library; only meaningful with SAN=fuzz, which `make fuzz` sets.
$(BUILD)/fuzz/%: fuzz/%.c fuzz/fuzz.h $(BUILD)/libimagen.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Ifuzz $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libimagen.a \
		$(ALL_LDFLAGS) -fsanitize=fuzzer $(PKG_LIBS) -lm

fuzz-build: $(FUZZ_BIN)

fuzz:
	@$(MAKE) --no-print-directory SAN=fuzz fuzz-build
	@fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

$(BUILD)/bench/runbench: bench/runbench.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -D_GNU_SOURCE $(WARN) -o $@ $<

$(BUILD)/bench/mklib: bench/mklib.c $(BUILD)/libimagen.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libimagen.a $(ALL_LDFLAGS) $(PKG_LIBS) -lm

deps:
	@scripts/deps.sh

# The README's test command: packages, both builds, every test, one summary line.
test: deps
	@$(MAKE) --no-print-directory check

check:
	@$(MAKE) --no-print-directory all unit
	@$(MAKE) --no-print-directory SAN=1 all unit
	@tests/run.sh build build-san

bench: deps
	@$(MAKE) --no-print-directory all build/bench/runbench build/bench/mklib
	@bench/bench.sh build
	@bench/catalog.sh build

install: $(BUILD)/imagen
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(BUILD)/imagen $(DESTDIR)$(BINDIR)/imagen
	install -m 644 doc/imagen.1 $(DESTDIR)$(MANDIR)/man1/imagen.1
	install -d $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	$(BUILD)/imagen completion bash >$(DESTDIR)$(BASHCOMPDIR)/imagen
	$(BUILD)/imagen completion zsh >$(DESTDIR)$(ZSHCOMPDIR)/_imagen
	$(BUILD)/imagen completion fish >$(DESTDIR)$(FISHCOMPDIR)/imagen.fish

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/imagen $(DESTDIR)$(MANDIR)/man1/imagen.1
	rm -f $(DESTDIR)$(BASHCOMPDIR)/imagen $(DESTDIR)$(ZSHCOMPDIR)/_imagen \
		$(DESTDIR)$(FISHCOMPDIR)/imagen.fish

run: all
	$(BUILD)/imagen generate "a lighthouse at dusk"

format:
	clang-format -i src/*/*.c src/*/*.h tests/unit/*.c bench/*.c fuzz/*.c fuzz/*.h

clean:
	rm -rf build build-san build-fuzz

-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d)
