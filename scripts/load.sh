#!/usr/bin/env bash
# Load test: the demo server (release build) under wrk on 127.0.0.1. One handler behind five
# routes: without auth (/load/open), behind the layer (/load/auth: HS256, signature and claims,
# no cache), behind the layer with its token cache (/load/auth-cached), behind the floor
# (/load/floor: the least work an HS256 check of the same claims can do, hand-written in the
# demo as a measuring stick, so what no verifying middleware can go below on this machine), and
# behind a hand-written axum middleware calling `jsonwebtoken::decode` (/load/jsonwebtoken), what
# applications write by hand.
#
#   scripts/load.sh                  # 30 s per route in 6 rounds, 32 connections
#   DURATION=10 ROUNDS=2 CONNECTIONS=64 scripts/load.sh
#   ROUTES="/load/open /load/auth" scripts/load.sh     # a subset; /load/open is required
#   PIN=0 scripts/load.sh            # server and wrk unpinned, sharing the cores
#
# With two cores or more (and PIN not 0), the server runs on core 0 and wrk on core 1
# (taskset), one wrk thread unless THREADS says otherwise: the load generator then does not
# take the server's core, and the server's CPU time measures the server alone.
#
# Reports, per route: requests/s, p50 and p99 latency, the ratio of requests/s against
# /load/open, and the server's CPU time per request (user and system, from /proc/<pid>/stat);
# then the server's peak RSS (VmHWM). Then the layer's targets in server CPU, each computed
# within a round (median over the rounds, and range), where "added" is a route's CPU per
# request minus /load/open's:
#   - added(/load/auth) / added(/load/floor) <= 1.1: the layer, uncached, against the least an
#     HS256 check of the same claims can do;
#   - added(/load/auth-cached) / added(/load/auth) <= 0.3: what the cache saves the server.
# Runs are bounded (duration, connections) and the server is stopped at exit, whatever
# happens. Installs wrk with apt-get when it is missing (as root on Debian/Ubuntu).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-30}
PIN=${PIN:-1}
server_cpus=() wrk_cpus=()
if [ "$PIN" != 0 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    server_cpus=(taskset -c 0) wrk_cpus=(taskset -c 1)
fi
THREADS=${THREADS:-$([ "${#wrk_cpus[@]}" -gt 0 ] && echo 1 || echo 2)}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-6}
read -r -a ROUTES <<<"${ROUTES:-/load/open /load/auth /load/auth-cached /load/floor /load/jsonwebtoken}"
if [[ " ${ROUTES[*]} " != *" /load/open "* ]]; then
    echo "load: ROUTES must include /load/open, the reference of every ratio" >&2
    exit 1
fi

if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "load: installing wrk" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk
    else
        echo "load: wrk is missing; install it (apt-get install wrk)" >&2
        exit 1
    fi
fi

cargo build --release -p tower-jwt-auth-demo
port=$((20000 + RANDOM % 40000))
workdir=$(mktemp -d "${TMPDIR:-/tmp}/load.XXXXXX")
# A fixed secret, so the token below can be had from the demo's own login.
JWT_SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=' | head -c 48)
export JWT_SECRET BIND="127.0.0.1:$port" RUST_LOG=warn
env -u REDIS_URL "${server_cpus[@]}" target/release/tower-jwt-auth-demo >"$workdir/server.log" 2>&1 &
server=$!
cleanup() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf "$workdir"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
    (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
base="http://127.0.0.1:$port"
token=$(curl -sf "$base/auth/login" -H 'content-type: application/json' \
    -d '{"username":"alice","password":"alice-password"}' |
    sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
if [ -z "$token" ]; then
    echo "load: could not log in to the demo server" >&2
    cat "$workdir/server.log" >&2
    exit 1
fi
for route in "${ROUTES[@]}"; do
    status=$(curl -s -o /dev/null -w '%{http_code}' "$base$route" -H "authorization: Bearer $token")
    if [ "$status" != 200 ]; then
        echo "load: $route answered $status to a valid token" >&2
        exit 1
    fi
done
status=$(curl -s -o /dev/null -w '%{http_code}' "$base/load/auth")
if [ "$status" != 400 ]; then
    echo "load: /load/auth answered $status without a token" >&2
    exit 1
fi

# wrk's latency distribution in microseconds; "1.23ms" -> 1230.
to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") f = 1; else if (u == "ms") f = 1000; else if (u == "s") f = 1000000; else f = 1
        printf "%.0f", n * f
    }'
}

# The machine's speed drifts by tens of percent from one minute to the next, so the routes take
# turns: ROUNDS rounds of DURATION/ROUNDS seconds per route, the order rotated every round, and
# each ratio is computed within a round (median over the rounds is reported).
slice=$(awk -v d="$DURATION" -v r="$ROUNDS" 'BEGIN { s = int(d / r); print (s < 1 ? 1 : s) }')
declare -A requests seconds p50s p99s ratios user_ticks system_ticks
# The CPU targets' per-round ratios.
uncached_vs_floor="" cached_vs_uncached=""
# The server's CPU time so far, user and system, in clock ticks (/proc/<pid>/stat).
server_ticks() { awk '{ print $14, $15 }' "/proc/$server/stat"; }
ticks_per_second=$(getconf CLK_TCK)
for round in $(seq 0 $((ROUNDS - 1))); do
    declare -A round_rps=() round_cpu=()
    for i in "${!ROUTES[@]}"; do
        route=${ROUTES[$(((i + round) % ${#ROUTES[@]}))]}
        echo "load: round $((round + 1))/$ROUNDS, $route for ${slice}s, $THREADS threads," \
            "$CONNECTIONS connections" >&2
        read -r user0 system0 < <(server_ticks)
        out=$(timeout $((slice + 30)) "${wrk_cpus[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${slice}s" \
            --latency -H "authorization: Bearer $token" "$base$route")
        read -r user1 system1 < <(server_ticks)
        user_ticks[$route]=$((${user_ticks[$route]:-0} + user1 - user0))
        system_ticks[$route]=$((${system_ticks[$route]:-0} + system1 - system0))
        errors=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
        if [ -n "$errors" ]; then
            echo "load: $route had $errors non-2xx answers" >&2
            echo "$out" >&2
            exit 1
        fi
        round_rps[$route]=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
        round_cpu[$route]=$(awk -v t="$((user1 - user0 + system1 - system0))" \
            -v n="$(echo "$out" | awk '/requests in/ {print $1}')" -v hz="$ticks_per_second" \
            'BEGIN { printf "%.4f", t / hz * 1e6 / n }')
        requests[$route]="${requests[$route]:-} $(echo "$out" | awk '/requests in/ {print $1}')"
        seconds[$route]="${seconds[$route]:-} $(to_us "$(echo "$out" | awk '/requests in/ {sub(/,$/, "", $4); print $4}')")"
        p50s[$route]="${p50s[$route]:-} $(to_us "$(echo "$out" | awk '$1 == "50%" {print $2}')")"
        p99s[$route]="${p99s[$route]:-} $(to_us "$(echo "$out" | awk '$1 == "99%" {print $2}')")"
    done
    for route in "${ROUTES[@]}"; do
        ratios[$route]="${ratios[$route]:-} $(awk -v a="${round_rps[$route]}" \
            -v b="${round_rps[/load/open]}" 'BEGIN { printf "%.3f", a / b }')"
    done
    # added(a) / added(b), the CPU per request over /load/open's, when both routes ran.
    added_ratio() {
        [ -n "${round_cpu[$1]:-}" ] && [ -n "${round_cpu[$2]:-}" ] || return 0
        awk -v a="${round_cpu[$1]}" -v b="${round_cpu[$2]}" -v o="${round_cpu[/load/open]}" \
            'BEGIN { if (b - o > 0) printf " %.3f", (a - o) / (b - o) }'
    }
    uncached_vs_floor+=$(added_ratio /load/auth /load/floor)
    cached_vs_uncached+=$(added_ratio /load/auth-cached /load/auth)
    unset round_rps round_cpu
done
peak_rss=$(awk '/VmHWM/ {print $2, $3}' "/proc/$server/status")

median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END {
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
sum() { tr ' ' '\n' | awk 'NF { s += $1 } END { print s }'; }

printf '\n%-20s %12s %10s %10s %8s %10s %14s\n' route requests/s p50_us p99_us ratio min-max \
    server_cpu_us
for route in "${ROUTES[@]}"; do
    total=$(echo "${requests[$route]}" | sum)
    rate=$(awk -v n="$total" -v us="$(echo "${seconds[$route]}" | sum)" \
        'BEGIN { printf "%.0f", n / (us / 1000000) }')
    cpu=$(awk -v u="${user_ticks[$route]}" -v s="${system_ticks[$route]}" -v n="$total" \
        -v hz="$ticks_per_second" 'BEGIN { printf "%.1f+%.1f", u / hz * 1e6 / n, s / hz * 1e6 / n }')
    spread=$(echo "${ratios[$route]}" | tr ' ' '\n' | awk 'NF' | sort -g |
        awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f-%.2f", lo, hi }')
    printf '%-20s %12s %10s %10s %8.2f %10s %14s\n' "$route" "$rate" \
        "$(echo "${p50s[$route]}" | median)" "$(echo "${p99s[$route]}" | median)" \
        "$(echo "${ratios[$route]}" | median)" "$spread" "$cpu"
done
echo "ratio: requests/s against /load/open within each round, median over $ROUNDS rounds (and range)"
echo "p50, p99: median over the rounds of each round's percentile"
echo "server_cpu_us: the server's CPU time per request, user+system, over all rounds"
echo "server peak RSS: $peak_rss"
pinned=$([ "${#server_cpus[@]}" -gt 0 ] && echo "server on core 0, wrk on core 1" || echo "unpinned")
target() { # name, per-round ratios, target
    [ -n "$2" ] || return 0
    local spread
    spread=$(echo "$2" | tr ' ' '\n' | awk 'NF' | sort -g |
        awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f-%.2f", lo, hi }')
    printf '%-48s %6.2f (%s)  target %s\n' "$1" "$(echo "$2" | median)" "$spread" "$3"
}
echo
echo "server CPU targets ($pinned; added = CPU per request over /load/open's, within each round):"
target "added(/load/auth) / added(/load/floor)" "$uncached_vs_floor" "<= 1.1"
target "added(/load/auth-cached) / added(/load/auth)" "$cached_vs_uncached" "<= 0.3"
