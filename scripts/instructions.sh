#!/usr/bin/env bash
# Instructions per request through the layer in an axum Router, counted by callgrind: exact
# and repeatable on a busy machine, for comparing two versions of the code (or two feature
# sets) where the time benches drown a difference of tens of nanoseconds in noise.
#
#   scripts/instructions.sh                    # default features
#   scripts/instructions.sh --features metrics # what the metrics feature adds
#
# Each case runs 2,000 and 12,000 requests; the difference of the totals over 10,000 is the
# cost of one request without the set-up. Needs valgrind (apt-get install valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is missing" >&2; exit 1; }
binary=$(cargo bench --bench requests --no-run --message-format=json "$@" 2>/dev/null |
    grep -o '"executable":"[^"]*requests[^"]*"' | tail -n1 | cut -d'"' -f4)
[ -n "$binary" ] || { echo "instructions.sh: the requests bench did not build" >&2; exit 1; }
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$binary" "$1" "$2" 2>&1 |
        grep -oE 'Collected : [0-9]+' | grep -oE '[0-9]+'
}
for case in ${CASES:-no_auth cached uncached untyped_guard one_key two_tenants cached_revocations churn_cached churn_uncached}; do
    few=$(count 2000 "$case")
    many=$(count 12000 "$case")
    echo "$case: $(( (many - few) / 10000 )) instructions per request"
done
