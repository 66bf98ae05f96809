#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer and AddressSanitizer, then runs them one after
# another and writes results/latest.md.
#
#   Fuzz/run.sh [seconds-per-target]        (default 60)
#   FUZZ_RUNS=N Fuzz/run.sh 900              stop after N inputs (or the time, whichever is first)
#   FUZZ_TARGETS="EngineFuzz JSONFuzz" Fuzz/run.sh 30   only these targets
#   FUZZ_NO_BUILD=1                          reuse the last build
#   FUZZ_MAX_LEN=4096                        longest input (default 512, which keeps runs fast)
#
# Seeds are read from Fixtures/fuzz/<seed dir>; what the fuzzer adds goes to Fuzz/corpus/
# and findings (crash-*, leak-*, timeout-*) to Fuzz/artifacts/<target>/, both git-ignored.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
targets="${FUZZ_TARGETS:-EngineFuzz SocketFuzz JSONFuzz FormCookieFuzz JWTFuzz}"
scratch=.build-fuzz
flags=(-c release --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library)

seed_dir() {
    case "$1" in
    EngineFuzz) echo engine ;; SocketFuzz) echo socket ;; JSONFuzz) echo json ;;
    FormCookieFuzz) echo form-cookie ;; JWTFuzz) echo jwt ;;
    esac
}

mkdir -p results
if [ -z "${FUZZ_NO_BUILD:-}" ]; then
    start=$(date +%s)
    for target in $targets; do
        swift build "${flags[@]}" --product "$target"
    done
    echo "build: $(($(date +%s) - start)) s"
fi
bin="$scratch/release"

summary=results/latest.md
tmp="results/.latest.$$.md"
{
    echo "# Fuzzing results"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -m), $(swift --version 2>&1 | head -1)"
    echo
    echo "Each row is the latest run of that target (this file is rewritten after each run of run.sh)."
    echo
    echo "| target | when | executions | exec/s | seconds | corpus | crashes, leaks, timeouts |"
    echo "|---|---|---:|---:|---:|---:|---|"
} > "$tmp"

status=0
for target in $targets; do
    seeds="../Fixtures/fuzz/$(seed_dir "$target")"
    corpus="corpus/$target"
    artifacts="artifacts/$target/"
    mkdir -p "$corpus" "$artifacts"
    log="results/$target.log"
    budget=(-max_total_time="$seconds")
    [ -n "${FUZZ_RUNS:-}" ] && budget+=(-runs="$FUZZ_RUNS")
    echo "== $target"
    began=$(date +%s)
    set +e
    # The Swift runtime's backtracer would run under ASan and bury the report.
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}" "$bin/$target" "$corpus" "$seeds" \
        "${budget[@]}" -rss_limit_mb=2048 -timeout=10 -max_len="${FUZZ_MAX_LEN:-512}" -print_final_stats=1 \
        -artifact_prefix="$artifacts" > "$log" 2>&1
    rc=$?
    set -e
    # Final stats on a clean exit; the last status line's count when libFuzzer stopped on a finding.
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{print $2}' | tail -1)
    [ -z "$execs" ] && execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | awk '{print $2}' | tail -1)
    units=$(find "$corpus" -type f | wc -l | tr -d ' ')
    findings=$(find "$artifacts" -type f | wc -l | tr -d ' ')
    if [ "$rc" -ne 0 ]; then
        status=1
        what="exit $rc: $(grep -m1 -E 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|Fatal error|Precondition failed' "$log" | cut -c1-120)"
    else
        what="none"
    fi
    echo "$target: ${execs:-?} executions (${rate:-?}/s), $findings findings, rc $rc"
    echo "| $target | $(date -u '+%Y-%m-%d %H:%M') | ${execs:-?} | ${rate:-?} | $(($(date +%s) - began)) | $units | $what |" \
        > "results/$target.row"
done
for target in EngineFuzz SocketFuzz JSONFuzz FormCookieFuzz JWTFuzz; do
    if [ -f "results/$target.row" ]; then cat "results/$target.row"; else echo "| $target | not run | | | | | |"; fi
done >> "$tmp"
{
    echo
    echo "Each target ran with AddressSanitizer and leak detection, -rss_limit_mb=2048 -timeout=10 -max_len=${FUZZ_MAX_LEN:-512},"
    echo "from the seeds in Fixtures/fuzz and the corpus grown in earlier runs (Fuzz/corpus, not committed)."
} >> "$tmp"
mv "$tmp" "$summary"
cat "$summary"
exit $status
