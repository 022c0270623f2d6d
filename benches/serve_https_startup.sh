#!/usr/bin/env bash
# `fakta serve` over HTTP and over HTTPS in the same run: the time from spawn to the first
# answer of the discovery document (`/oauth2/default/.well-known/openid-configuration`, 200),
# several runs of each, interleaved (HTTP, HTTPS, HTTP, ...) so both see the same machine load;
# then the medians and the ratio HTTPS/HTTP. The signing key, the local CA and the server
# certificate are made once before timing (an HTTPS start-up loads them, it does not make them).
#
# Usage: cargo build --release && benches/serve_https_startup.sh
# Environment:
#   FAKTA_BIN  the binary (default: target/release/fakta)
#   RUNS       start-ups of each kind (default: 10)
#
# Binds only 127.0.0.1 (the HTTPS base URL is `localhost`, which the certificate names; the
# server listens on 127.0.0.1). Both are polled the same way, with curl every 2 ms (one
# process per poll, as a client would see it; the HTTPS poll verifies the certificate against
# the local CA, so a TLS answer counts only when a client could trust it). Every loop is
# bounded; the server is killed on exit, even on failure.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${FAKTA_BIN:-target/release/fakta}
RUNS=${RUNS:-10}
POLL_SLEEP=0.002
POLL_MAX=2500

WORK=$(mktemp -d /tmp/fakta-https-bench.XXXXXX)
CERTS=$WORK/certs
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
    echo "serve_https_startup: $*" >&2
    exit 1
}

[[ -x "$BIN" ]] || die "$BIN not found; run cargo build --release first"
command -v curl >/dev/null || die "curl is needed"

port_busy() { { exec {probe}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null && exec {probe}>&-; }
free_port() {
    local p=$1
    for _ in $(seq 1 50); do
        port_busy "$p" || { echo "$p"; return 0; }
        p=$((p + 1))
    done
    die "no free port from $1"
}

HTTP_PORT=$(free_port 7000)
HTTPS_PORT=$(free_port $((HTTP_PORT + 1)))
connection() {
    cat <<YAML
idp:
  base_url: $1
directory:
  users:
    - { id: 00u1alice, email: alice@acme.test, name: Alice Admin, groups: [Eng] }
apps:
  - id: bench-web
    protocol: oidc
    client_id: 0oabenchweb
    client_secret: bench-secret
    redirect_uris: [http://127.0.0.1:7100/callback]
    authorization_server: default
YAML
}
connection "http://127.0.0.1:$HTTP_PORT" >"$WORK/http.yaml"
connection "https://localhost:$HTTPS_PORT" >"$WORK/https.yaml"
DISCOVERY=/oauth2/default/.well-known/openid-configuration

ok_http() {
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
        "http://127.0.0.1:$HTTP_PORT$DISCOVERY")" == 200 ]]
}
ok_https() {
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$CERTS/tls-ca.pem" \
        --resolve "localhost:$HTTPS_PORT:127.0.0.1" "https://localhost:$HTTPS_PORT$DISCOVERY")" == 200 ]]
}

# Starts `serve $1.yaml` and polls with ok_$1 until the first 200; prints the milliseconds from
# spawn.
time_startup() {
    local kind=$1 t0 t1 i
    t0=$EPOCHREALTIME
    "$BIN" --certs "$CERTS" serve "$WORK/$kind.yaml" >"$WORK/serve.log" 2>&1 &
    PID=$!
    for ((i = 0; i < POLL_MAX; i++)); do
        if "ok_$kind"; then
            t1=$EPOCHREALTIME
            awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", (b - a) * 1000 }'
            return 0
        fi
        kill -0 "$PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; die "fakta serve ($kind) exited"; }
        sleep "$POLL_SLEEP"
    done
    die "no $kind discovery answer after $POLL_MAX polls"
}

# Median of numbers on stdin.
median() {
    sort -n | awk '{ v[NR] = $1 } END {
        printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
stats() {
    sort -n | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "median %.2f ms, min %.2f ms, max %.2f ms (n=%d)", m, v[1], v[NR], NR }'
}

# Keys and certificates once, outside the timings (one start of each kind, not counted).
for kind in http https; do
    time_startup "$kind" >/dev/null
    stop_server
done
[[ -f "$CERTS/tls-ca.pem" ]] || die "no local CA in $CERTS after the HTTPS warm-up"

: >"$WORK/http.times"
: >"$WORK/https.times"
for ((run = 0; run < RUNS; run++)); do
    for kind in http https; do
        time_startup "$kind" >>"$WORK/$kind.times"
        stop_server
    done
done

echo "binary: $BIN ($(stat -c %s "$BIN") bytes), cores: $(nproc), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "start-up to the first discovery 200, polled by curl every ${POLL_SLEEP}s, interleaved:"
echo "  HTTP  (http://127.0.0.1:$HTTP_PORT):  $(stats <"$WORK/http.times")"
echo "    runs (ms): $(tr '\n' ' ' <"$WORK/http.times")"
echo "  HTTPS (https://localhost:$HTTPS_PORT): $(stats <"$WORK/https.times")"
echo "    runs (ms): $(tr '\n' ' ' <"$WORK/https.times")"
awk -v a="$(median <"$WORK/http.times")" -v b="$(median <"$WORK/https.times")" \
    'BEGIN { printf "  ratio HTTPS/HTTP (medians): %.2f (HTTPS %+.2f ms)\n", b / a, b - a }'
