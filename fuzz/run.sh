#!/usr/bin/env bash
# Runs every fuzz target (cargo-fuzz, libFuzzer) for SECONDS each (default 600), two at a time,
# and prints per target: executions, coverage (cov and ft from libFuzzer's last status line),
# new corpus units and crashes. Exits 1 when a target crashed (the input is in
# fuzz/artifacts/<target>/) or nightly is missing.
#
#   fuzz/run.sh [SECONDS] [TARGET...]    all targets unless some are named;
#                                        FUZZ_PARALLEL=n runs n at once (default 2),
#                                        FUZZ_TIMEOUT=s is libFuzzer's -timeout (default 10)
#
# New inputs go to fuzz/target/corpus/<target>/ (the committed fuzz/corpus/<target>/ is read,
# not written); fold the interesting ones back with
#   cargo +nightly fuzz cmin <target> corpus/<target>    (after copying them in)
set -euo pipefail

seconds=${1:-600}
shift || true
parallel=${FUZZ_PARALLEL:-2}
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "fuzz/run.sh: libFuzzer's sanitizer needs the nightly toolchain, which is not installed:" >&2
    echo "    rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    nice -n 19 cargo install cargo-fuzz --locked
fi
# monstrum-core's build script builds the plugin guests for wasm32-wasip2 with a nested cargo of
# the same (nightly) toolchain. Where nightly lacks that target, the nested build goes to stable.
if ! rustup +nightly target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    export RUSTC_WRAPPER="$here/rustc-shim.sh"
fi
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}

nice -n 19 cargo +nightly fuzz build
targets=${*:-$(cargo +nightly fuzz list)}
logs="$here/target/fuzz-logs"
mkdir -p "$logs"

run_one() {
    local t=$1
    mkdir -p "target/corpus/$t" "artifacts/$t"
    local before
    before=$(find "artifacts/$t" -type f ! -name 'slow-unit-*' | wc -l)
    local start=$SECONDS
    local dict=()
    if [ -f "$t.dict" ]; then dict=(-dict="$t.dict"); fi
    nice -n 19 cargo +nightly fuzz run "$t" "target/corpus/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout="${FUZZ_TIMEOUT:-10}" \
        -print_final_stats=1 "${dict[@]}" >"$logs/$t.log" 2>&1 || true
    echo $((SECONDS - start)) >"$logs/$t.secs"
    # Crashes, timeouts, leaks and out-of-memory inputs; slow units (over 10 s) are counted apart.
    echo $(($(find "artifacts/$t" -type f ! -name 'slow-unit-*' | wc -l) - before)) >"$logs/$t.crashes"
    grep -c '^Slowest unit' "$logs/$t.log" >"$logs/$t.slow" || true
}

for t in $targets; do
    echo "fuzzing $t for ${seconds}s"
    run_one "$t" &
    while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do
        wait -n || true
    done
done
wait

failed=0
printf '%-10s %12s %8s %8s %8s %8s %6s %8s\n' target executions cov ft units crashes slow seconds
for t in $targets; do
    log="$logs/$t.log"
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
    units=$(grep -o 'stat::new_units_added: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
    status=$(grep -E '^#[0-9]+' "$log" | grep 'cov:' | tail -1 || true)
    cov=$(echo "$status" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*' || true)
    ft=$(echo "$status" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*' || true)
    crashes=$(cat "$logs/$t.crashes")
    printf '%-10s %12s %8s %8s %8s %8s %6s %8s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${units:-?}" "$crashes" \
        "$(cat "$logs/$t.slow")" "$(cat "$logs/$t.secs")"
    if [ "$crashes" != 0 ]; then
        failed=1
        grep -E -A1 'panicked at|ERROR: libFuzzer|Test unit written' "$log" | sed "s/^/    $t: /" | head -8 || true
    fi
done
exit $failed
