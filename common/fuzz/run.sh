#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600), growing the kept
# corpora in corpus/<target>/ and minimising them afterwards.
#
#   common/fuzz/run.sh [SECONDS [TARGET...]]
#
# cargo fuzz (libFuzzer) is installed once if missing. Targets build with
# --sanitizer none: the code under test is safe Rust, so the fuzzers look
# for panics, failed round trips and hangs. RUSTC_BOOTSTRAP lets the stable
# toolchain take cargo fuzz's instrumentation flags. A crash leaves its
# input in artifacts/<target>/ and fails the run. The targets depend on
# nas-domain alone, so the instrumented build has no network stack. FUZZ_TARGET_DIR puts the
# (slow, instrumented) build elsewhere, e.g. in a CI cache.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
shift || true
export RUSTC_BOOTSTRAP=1
export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo fuzz --version > /dev/null 2>&1; then
    cargo install cargo-fuzz --version 0.13.2 --locked
fi
# The fuzz project is this folder (it fuzzes ../domain, which has no
# fuzz/ of its own), so every cargo fuzz call names it.
project=(--fuzz-dir "$PWD")
build=("${project[@]}" --sanitizer none --release)
[ -z "${FUZZ_TARGET_DIR:-}" ] || build+=(--target-dir "$FUZZ_TARGET_DIR")
cargo fuzz build "${build[@]}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list "${project[@]}")
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    dict=()
    case "$target" in *_json) dict=(-dict=json.dict) ;; esac
    echo "fuzzing $target for ${seconds}s"
    cargo fuzz run "${build[@]}" "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -print_final_stats=1 "${dict[@]}" 2>&1 \
        | grep -E '^(stat::number_of_executed_units|stat::new_units_added|Done|INFO: -max_total_time)|panicked|ERROR|SUMMARY|Test unit written' || true
    if compgen -G "artifacts/$target/crash-*" > /dev/null || compgen -G "artifacts/$target/timeout-*" > /dev/null; then
        echo "fuzz: $target found a crash; see common/fuzz/artifacts/$target/" >&2
        exit 1
    fi
    if [ "$seconds" -ge 60 ]; then
        cargo fuzz cmin "${build[@]}" "$target" "corpus/$target" > /dev/null 2>&1
    fi
    echo "fuzz: $target ran ${seconds}s without a crash; corpus: $(ls "corpus/$target" | wc -l) inputs"
done
