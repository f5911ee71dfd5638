#!/usr/bin/env bash
# Load test: the demo server (release build) under wrk on 127.0.0.1, the same handler without
# auth (/load/open), behind the layer (/load/auth: HS256, signature and claims, no cache) and
# behind the layer with its token cache (/load/auth-cached).
#
#   scripts/load.sh                  # 30 s per route, 2 threads, 32 connections
#   DURATION=10 CONNECTIONS=64 scripts/load.sh
#
# Reports, per route: requests/s, p50 and p99 latency, and the ratio of requests/s against
# /load/open (target for /load/auth: >= 0.85); then the server's peak RSS (VmHWM). Runs are
# bounded (duration, connections) and the server is stopped at exit, whatever happens.
# Installs wrk with apt-get when it is missing (as root on Debian/Ubuntu).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-30}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
ROUTES=(/load/open /load/auth /load/auth-cached)

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

cargo build --release --example server
port=$((20000 + RANDOM % 40000))
workdir=$(mktemp -d "${TMPDIR:-/tmp}/load.XXXXXX")
# A fixed secret, so the token below can be had from the demo's own login.
JWT_SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=' | head -c 48)
export JWT_SECRET BIND="127.0.0.1:$port" RUST_LOG=warn
env -u REDIS_URL target/release/examples/server >"$workdir/server.log" 2>&1 &
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

declare -A rps p50 p99
for route in "${ROUTES[@]}"; do
    echo "load: $route for ${DURATION}s, $THREADS threads, $CONNECTIONS connections" >&2
    out=$(timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
        --latency -H "authorization: Bearer $token" "$base$route")
    errors=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    if [ -n "$errors" ]; then
        echo "load: $route had $errors non-2xx answers" >&2
        echo "$out" >&2
        exit 1
    fi
    rps[$route]=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50[$route]=$(to_us "$(echo "$out" | awk '$1 == "50%" {print $2}')")
    p99[$route]=$(to_us "$(echo "$out" | awk '$1 == "99%" {print $2}')")
done
peak_rss=$(awk '/VmHWM/ {print $2, $3}' "/proc/$server/status")

printf '\n%-20s %12s %10s %10s %8s\n' route requests/s p50_us p99_us ratio
for route in "${ROUTES[@]}"; do
    ratio=$(awk -v a="${rps[$route]}" -v b="${rps[/load/open]}" 'BEGIN { printf "%.2f", a / b }')
    printf '%-20s %12s %10s %10s %8s\n' "$route" "${rps[$route]}" "${p50[$route]}" \
        "${p99[$route]}" "$ratio"
done
echo "server peak RSS: $peak_rss"
