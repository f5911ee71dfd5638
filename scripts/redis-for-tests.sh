#!/usr/bin/env bash
# A throwaway Redis for tests/revocation_redis.rs: loopback only, a free port, no persistence.
#
#   scripts/redis-for-tests.sh cargo test --all-features
#       runs the command with REDIS_URL exported, then stops Redis; exits with the command's status
#   scripts/redis-for-tests.sh
#       starts Redis, prints its REDIS_URL and runs until Ctrl-C
#   source scripts/redis-for-tests.sh && redis_for_tests_start
#       (as .ci/run does) exports REDIS_URL in the current shell; call redis_for_tests_stop at exit
#
# Needs redis-server and redis-cli (Debian/Ubuntu: apt-get install redis-server).

# Starts redis-server in the background on a free port; exports REDIS_URL and records the pid in
# REDIS_FOR_TESTS_PID.
redis_for_tests_start() {
    local tool
    for tool in redis-server redis-cli; do
        if ! command -v "$tool" >/dev/null; then
            echo "redis-for-tests: $tool not found (Debian/Ubuntu: apt-get install redis-server)" >&2
            return 1
        fi
    done
    REDIS_FOR_TESTS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/redis-for-tests.XXXXXX")
    local attempt port pid
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        port=$((20000 + RANDOM % 40000))
        # Taken when something answers there; redis-server would refuse to start on it anyway.
        if (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            continue
        fi
        redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
            --dir "$REDIS_FOR_TESTS_DIR" --logfile "$REDIS_FOR_TESTS_DIR/redis.log" \
            --daemonize no </dev/null &
        pid=$!
        for _ in $(seq 1 100); do
            if [[ "$(redis-cli -p "$port" ping 2>/dev/null)" == PONG ]]; then
                REDIS_FOR_TESTS_PID=$pid
                export REDIS_URL="redis://127.0.0.1:$port"
                echo "redis-for-tests: redis-server (pid $pid) answers at $REDIS_URL" >&2
                return 0
            fi
            # Exited: most likely the port was taken in the meantime; try another one.
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        echo "redis-for-tests: attempt $attempt on port $port failed" >&2
    done
    echo "redis-for-tests: could not start redis-server; its log:" >&2
    cat "$REDIS_FOR_TESTS_DIR/redis.log" >&2 2>/dev/null || true
    return 1
}

# Stops the redis-server started by redis_for_tests_start; safe to call twice or without a start.
redis_for_tests_stop() {
    if [[ -n "${REDIS_FOR_TESTS_PID:-}" ]]; then
        kill "$REDIS_FOR_TESTS_PID" 2>/dev/null || true
        wait "$REDIS_FOR_TESTS_PID" 2>/dev/null || true
        echo "redis-for-tests: stopped redis-server (pid $REDIS_FOR_TESTS_PID)" >&2
        unset REDIS_FOR_TESTS_PID
    fi
    if [[ -n "${REDIS_FOR_TESTS_DIR:-}" ]]; then
        rm -rf "$REDIS_FOR_TESTS_DIR"
        unset REDIS_FOR_TESTS_DIR
    fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    trap redis_for_tests_stop EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    redis_for_tests_start
    if (($# == 0)); then
        echo "redis-for-tests: export REDIS_URL=$REDIS_URL   (Ctrl-C stops Redis)" >&2
        wait "$REDIS_FOR_TESTS_PID"
        exit 0
    fi
    status=0
    "$@" || status=$?
    exit "$status"
fi
