#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for <seconds> each, with cargo-fuzz (libFuzzer).
# Exits non-zero if any target crashes (a panic, a broken oracle, a timeout or OOM); the input
# is left in fuzz/artifacts/<target>/. New corpus entries go to fuzz/corpus/<target>/ (ignored by
# git); the committed seeds in fuzz/seeds/<target>/ are read, never written.
#
#   fuzz/run.sh 30                  # every target, 30 s each
#   fuzz/run.sh 60 layer            # one target
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). FUZZ_TOOLCHAIN=stable (or nightly) picks
# the toolchain, FUZZ_SANITIZER=none|address the sanitizer. With a nightly toolchain it builds with
# AddressSanitizer; with stable alone it builds without a sanitizer (RUSTC_BOOTSTRAP lets the
# stable compiler take the unstable flags cargo-fuzz passes). The crate is #![forbid(unsafe_code)],
# so the sanitizer matters only for dependencies; coverage guidance works either way.
set -euo pipefail
cd "$(dirname "$0")"

seconds=${1:?usage: fuzz/run.sh <seconds per target> [target...]}
shift
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=(authorization_header cookie_source layer transport_sources)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is not installed: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

if [ -n "${FUZZ_TOOLCHAIN:-}" ]; then
    toolchain=("+$FUZZ_TOOLCHAIN")
elif rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    toolchain=()
fi
if [ "${#toolchain[@]}" -gt 0 ] && [[ "${toolchain[0]}" == +nightly* ]]; then
    sanitizer=${FUZZ_SANITIZER:-address}
else
    sanitizer=${FUZZ_SANITIZER:-none}
    export RUSTC_BOOTSTRAP=1
fi
echo "==> cargo ${toolchain[*]:-} fuzz, sanitizer $sanitizer, ${seconds}s per target"

# -a: debug assertions and overflow checks in the fuzzed code too.
flags=(--sanitizer "$sanitizer" --debug-assertions)
cargo "${toolchain[@]}" fuzz build "${flags[@]}"

failed=()
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    echo "==> $target"
    started=$SECONDS
    if cargo "${toolchain[@]}" fuzz run "${flags[@]}" "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -dict=jwt.dict \
        -print_final_stats=1 2>"corpus/$target.log"; then
        grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "corpus/$target.log" || true
        echo "    ok after $((SECONDS - started))s"
    else
        tail -n 60 "corpus/$target.log"
        echo "    CRASH in $target after $((SECONDS - started))s (artifacts/$target/)" >&2
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "==> crashed: ${failed[*]}" >&2
    exit 1
fi
echo "==> no crash"
