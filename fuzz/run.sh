#!/bin/sh
# fuzz/run.sh BUILD_DIR SECONDS — runs each libFuzzer target for SECONDS.
#
# Called by `make fuzz-smoke` (part of `make test`) and `make fuzz`. Each
# fuzzer starts from a copy of its seed corpus in a temporary directory, so
# a run never grows the repository. Prints one summary line per fuzzer and
# exits non-zero if any fuzzer found a crash, a leak, undefined behaviour or
# a timeout; the reproducer is kept in BUILD_DIR/fuzz-crashes/ and the tail
# of the fuzzer's log is printed.
set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 64
fi
build=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/ribbon-fuzz.XXXXXX") || exit 75
trap 'rm -rf "$work"' EXIT INT TERM

# LeakSanitizer is on: a leak in ribbon is a finding. The suppressions file,
# if present, only covers one-time GLib/GMime initialisation.
ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1:${ASAN_OPTIONS:-}"
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
if [ -f "$here/lsan.supp" ]; then
    LSAN_OPTIONS="suppressions=$here/lsan.supp:${LSAN_OPTIONS:-}"
fi
export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS

status=0
for target in sign verify smtp learn lookalike inbound doctor milter; do
    binary="$build/fuzz_$target"
    if [ ! -x "$binary" ]; then
        echo "fuzz_$target: not built ($binary missing; run make fuzz-build)" >&2
        status=1
        continue
    fi
    corpus="$work/corpus-$target"
    artifacts="$work/artifacts-$target"
    log="$work/$target.log"
    mkdir -p "$corpus" "$artifacts"
    cp "$here/corpus/$target/"* "$corpus/"

    start=$(date +%s)
    "$binary" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=1048576 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1
    rc=$?
    elapsed=$(( $(date +%s) - start ))

    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    files=$(ls "$corpus" | wc -l)
    found=$(ls "$artifacts" | head -n 1)
    if [ "$rc" -eq 0 ] && [ -z "$found" ]; then
        echo "fuzz_$target: ok, ${runs:-?} executions in ${elapsed}s, ${cov:-cov: ?}, corpus $files files"
        continue
    fi
    status=1
    keep="$build/fuzz-crashes"
    mkdir -p "$keep"
    for a in "$artifacts"/*; do
        [ -e "$a" ] && cp "$a" "$keep/fuzz_$target-$(basename "$a")"
    done
    echo "fuzz_$target: FAILED (exit $rc) after ${runs:-?} executions in ${elapsed}s;" \
        "reproducer: $keep/fuzz_$target-${found:-?}"
    echo "---- last lines of the fuzz_$target log ----" >&2
    tail -n 60 "$log" >&2
    echo "---- reproduce with: $binary $keep/fuzz_$target-${found:-?} ----" >&2
done
exit $status
