# ribbon — the two commands a newcomer needs are `make run` and `make test`.
# Every target first runs scripts/setup.sh, which installs missing Debian
# packages (and does nothing when all are present).

BUILD      ?= build
FUZZ_BUILD ?= build-fuzz
DEB_BUILD  ?= build-deb
# `make install`: /usr/local unless told (PREFIX=/usr is the package's
# layout); DESTDIR stages it elsewhere.
PREFIX     ?= /usr/local
DESTDIR    ?=
JOBS       ?= $(shell nproc)
# Seconds each fuzzer runs inside `make test`; `make fuzz` runs longer.
FUZZ_TEST_SECONDS ?= 20
FUZZ_SECONDS      ?= 300

.PHONY: all setup build run test unit fuzz-build fuzz fuzz-smoke bench install deb test-deb clean

all: build

setup:
	@sh scripts/setup.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: setup $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

run: build
	sh scripts/run-demo.sh $(BUILD)/ribbon

# The tests start gpg-agent for gpgsm's trust list; stop it afterwards so no
# daemon outlives `make test`.
unit: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) -O $(BUILD)/ctest.log; rc=$$?; \
	for d in $(BUILD)/ribbon-test-cache/*/gnupg; do \
	    [ -d "$$d" ] && gpgconf --homedir "$$d" --kill gpg-agent; \
	done; exit $$rc

# Ends with one plain line counting every test and fuzzer run: the ctest
# cases from its log, plus 8 for the eight fuzzers of fuzz-smoke (fuzz_sign,
# fuzz_verify, fuzz_smtp, fuzz_learn, fuzz_lookalike, fuzz_inbound, fuzz_doctor, fuzz_milter), each
# counted as one test that passed (fuzz/run.sh fails the target, and so `make test`, when a
# fuzzer finds a crash).
test: unit fuzz-smoke
	@awk '/tests passed, .* tests failed out of/ { total = $$NF; failed = $$4 } \
	     END { printf "tests: %d passed, %d failed\n", total - failed + 8, failed }' \
	     $(BUILD)/ctest.log

$(FUZZ_BUILD)/build.ninja:
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja \
	    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRIBBON_FUZZ=ON

fuzz-build: setup $(FUZZ_BUILD)/build.ninja
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_sign fuzz_verify fuzz_smtp fuzz_learn fuzz_lookalike fuzz_inbound fuzz_doctor fuzz_milter

# A short bounded run of each fuzzer, part of `make test`.
fuzz-smoke: fuzz-build
	sh fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_TEST_SECONDS)

# A longer run for developers.
fuzz: fuzz-build
	sh fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: build
	sh bench/run.sh $(BUILD)

# The command, its configuration, units and documentation where the FHS
# expects them (CMakeLists.txt, "installation"). Builds only the command.
install: setup $(BUILD)/build.ninja
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build $(BUILD) -j $(JOBS) --target ribbon
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD)

# The Debian package, built in a copy under $(DEB_BUILD)/ and checked by
# lintian (scripts/build-deb.sh).
deb: setup
	sh scripts/build-deb.sh $(DEB_BUILD)

# Installs that package on this machine, uses it as an operator would and
# purges it again (scripts/test-deb.sh; needs root). .ci/run runs it after
# `make test`.
test-deb: deb
	sh scripts/test-deb.sh $(DEB_BUILD)

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD) $(DEB_BUILD)
