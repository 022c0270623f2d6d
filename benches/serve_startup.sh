#!/usr/bin/env bash
# `fakta serve`: start-up time to the first metadata answer (keys already on disk), and memory
# (VmRSS) idle after start, after 100 metadata requests and after 100 IdP-initiated logins.
#
# Usage: cargo build --release && benches/serve_startup.sh
# Environment:
#   FAKTA_BIN  the binary (default: target/release/fakta)
#   CERTS      the key folder, created once before timing (default: /tmp/bench-certs)
#   PORT       first port to try (default: 7000, the embedded example's); if it is busy the next
#              free one is used with a copy of the example whose base_url says that port
#   RUNS       start-up repetitions (default: 10); N_META, N_LOGIN: request counts (default: 100)
#
# Binds only 127.0.0.1. Every loop is bounded; the server is killed on exit, even on failure.
# Start-up is polled twice: with bash's /dev/tcp (no fork per poll: sub-millisecond resolution)
# and with curl (one process per poll, as a client would see it).
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${FAKTA_BIN:-target/release/fakta}
CERTS=${CERTS:-/tmp/bench-certs}
PORT=${PORT:-7000}
RUNS=${RUNS:-10}
N_META=${N_META:-100}
N_LOGIN=${N_LOGIN:-100}
POLL_SLEEP=0.002        # between polls
POLL_MAX=2500           # polls before giving up (>= 5 s)
APP_NAME=acme_qovery_1
APP_ID=qovery
LOGIN_USER=00u1alice

WORK=$(mktemp -d /tmp/fakta-serve-bench.XXXXXX)
PID=""

stop_server() {
    if [[ -n "$PID" ]]; then
        kill -TERM "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
        PID=""
    fi
}
cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
    echo "serve_startup: $*" >&2
    exit 1
}

[[ -x "$BIN" ]] || die "$BIN not found; run cargo build --release first"

# A sleep without a fork: read with a timeout on a pipe nobody writes to.
exec {SLEEP_FD}<> <(:)
nap() { read -r -t "$1" -u "$SLEEP_FD" _ || true; }

port_busy() { { exec {probe}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null && exec {probe}>&-; }

# The serve command line: the embedded example on 7000, else a copy with another port.
for _ in $(seq 1 20); do
    port_busy "$PORT" || break
    echo "port $PORT is busy, trying $((PORT + 1))" >&2
    PORT=$((PORT + 1))
done
port_busy "$PORT" && die "no free port found"
SERVE_ARGS=(--certs "$CERTS" serve)
if [[ "$PORT" != 7000 ]]; then
    sed "s#base_url: http://127.0.0.1:7000#base_url: http://127.0.0.1:$PORT#" \
        scenarios/example.yaml >"$WORK/connection.yaml"
    SERVE_ARGS+=("$WORK/connection.yaml")
fi
BASE="http://127.0.0.1:$PORT"
META_PATH="/app/$APP_ID/sso/saml/metadata"
META_URL="$BASE$META_PATH"

# Keys are created once, outside the timings.
"$BIN" --certs "$CERTS" keys show >/dev/null

start_server() {
    "$BIN" "${SERVE_ARGS[@]}" >"$WORK/serve.log" 2>&1 &
    PID=$!
}

# One metadata GET over /dev/tcp; true on a 200 status line.
tcp_metadata_ok() {
    local fd line
    { exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null || return 1
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' \
        "$META_PATH" "$PORT" >&"$fd" || { exec {fd}>&-; return 1; }
    line=""
    read -r -t 2 -u "$fd" line || true
    exec {fd}>&-
    [[ "$line" == "HTTP/1.1 200"* ]]
}

curl_metadata_ok() {
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$META_URL")" == 200 ]]
}

# Starts the server and polls with $1 until the first 200; prints the milliseconds from spawn.
time_startup() {
    local poll=$1 t0 t1 i
    t0=$EPOCHREALTIME
    start_server
    for ((i = 0; i < POLL_MAX; i++)); do
        if "$poll"; then
            t1=$EPOCHREALTIME
            awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", (b - a) * 1000 }'
            return 0
        fi
        kill -0 "$PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; die "fakta serve exited"; }
        nap "$POLL_SLEEP"
    done
    die "no metadata answer after $POLL_MAX polls"
}

# Median and max of numbers on stdin.
stats() {
    sort -n | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "median %.2f ms, max %.2f ms, min %.2f ms (n=%d)\n", m, v[NR], v[1], NR }'
}

rss() { awk '/^VmRSS|^VmHWM/ { printf "%s %s %s  ", $1, $2, $3 }' "/proc/$PID/status"; echo; }

echo "binary: $BIN ($(stat -c %s "$BIN") bytes), certs: $CERTS, base: $BASE, cores: $(nproc)"
for poll in tcp_metadata_ok curl_metadata_ok; do
    : >"$WORK/times"
    for ((run = 0; run < RUNS; run++)); do
        time_startup "$poll" >>"$WORK/times"
        stop_server
    done
    echo "start-up to first metadata 200, polled by ${poll%%_*} every ${POLL_SLEEP}s:" \
        "$(stats <"$WORK/times")"
    echo "  runs (ms): $(tr '\n' ' ' <"$WORK/times")"
done

# Memory: one server for the rest.
time_startup tcp_metadata_ok >/dev/null
nap 0.5
echo "RSS after start (idle 0.5 s):           $(rss)"

t0=$EPOCHREALTIME
for ((i = 0; i < N_META; i++)); do
    curl_metadata_ok || die "metadata request $i failed"
done
t1=$EPOCHREALTIME
echo "RSS after $N_META metadata requests:     $(rss)"
awk -v a="$t0" -v b="$t1" -v n="$N_META" \
    'BEGIN { printf "  metadata: %.1f req/s (sequential curl, one process per request)\n", n / (b - a) }'

# One IdP-initiated login: GET the SSO URL (302 to the login page), POST the user, expect the
# auto-post page with a SAMLResponse. No cookie jar, so every login goes through the login page.
login() {
    local location token code
    location=$(curl -s -o /dev/null --max-time 5 -w '%{http_code} %header{location}' \
        "$BASE/app/$APP_NAME/$APP_ID/sso/saml")
    [[ "$location" == "302 /login/login.htm?state="* ]] || { echo "SSO: $location" >&2; return 1; }
    token=${location#*state=}
    code=$(curl -s -o "$WORK/login.html" --max-time 5 -w '%{http_code}' \
        --data-urlencode "state=$token" --data-urlencode "username=$LOGIN_USER" \
        "$BASE/login/login.htm")
    [[ "$code" == 200 ]] && grep -q 'name="SAMLResponse"' "$WORK/login.html" ||
        { echo "login POST: $code" >&2; return 1; }
}

t0=$EPOCHREALTIME
for ((i = 0; i < N_LOGIN; i++)); do
    login || die "login $i failed"
done
t1=$EPOCHREALTIME
echo "RSS after $N_LOGIN IdP-initiated logins:  $(rss)"
awk -v a="$t0" -v b="$t1" -v n="$N_LOGIN" \
    'BEGIN { printf "  logins: %.1f logins/s, %.2f ms each (sequential curl: GET SSO + POST login)\n", n / (b - a), (b - a) * 1000 / n }'
