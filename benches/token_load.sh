#!/usr/bin/env bash
# Tokens per second through the OIDC token endpoint of the release binary under concurrent load
# on loopback: `grant_type=refresh_token` requests (each signs an RS256 access token and an RS256
# id_token: two RSA-2048 signatures) driven by wrk at several concurrencies, next to the raw
# RSA-2048 signing rate of this machine (`openssl speed`, same script).
#
# Usage: cargo build --release && benches/token_load.sh
# Environment:
#   FAKTA_BIN    the binary (default: target/release/fakta)
#   PORT         first port to try (default: 7000, the example's); if it is busy the next free one
#                is used with a copy of scenarios/qovery-oidc.yaml whose base_url says that port
#   CONCURRENCY  connection counts to measure (default: "1 2 4 8")
#   DURATION     seconds per concurrency (default: 5)
#
# Binds and targets only 127.0.0.1. Every wait is bounded (curl --max-time, `timeout` around
# wrk, a bounded start-up poll); the server is killed on exit, even on failure. Needs curl, jq,
# wrk (apt-get install -y wrk) and openssl.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${FAKTA_BIN:-target/release/fakta}
PORT=${PORT:-7000}
CONCURRENCY=${CONCURRENCY:-1 2 4 8}
DURATION=${DURATION:-5}
CLIENT_ID=0oa1qoveryweb
CLIENT_SECRET=fakta-demo-secret-change-me
REDIRECT_URI=http://127.0.0.1:7100/login/oidc/callback
LOGIN_USER=00u1alice
SCENARIO=scenarios/qovery-oidc.yaml

WORK=$(mktemp -d /tmp/fakta-token-load.XXXXXX)
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
    echo "token_load: $*" >&2
    [[ -s "$WORK/serve.log" ]] && sed 's/^/  serve: /' "$WORK/serve.log" >&2
    exit 1
}

for tool in curl jq wrk openssl; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
[[ -x "$BIN" ]] || die "$BIN not found; run cargo build --release first"
CORES=$(nproc)
WRK_THREADS_MAX=$CORES # wrk itself competes with the server for the cores
# Bounds: at most 8 levels of 1..256 connections, 1..60 s each.
[[ "$DURATION" =~ ^[0-9]+$ ]] && ((DURATION >= 1 && DURATION <= 60)) ||
    die "DURATION must be 1..60 seconds"
read -ra levels <<<"$CONCURRENCY"
((${#levels[@]} >= 1 && ${#levels[@]} <= 8)) || die "CONCURRENCY must list 1..8 levels"
for c in "${levels[@]}"; do
    [[ "$c" =~ ^[0-9]+$ ]] && ((c >= 1 && c <= 256)) || die "concurrency $c is not in 1..256"
done

port_busy() { { exec {probe}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null && exec {probe}>&-; }

# --- 1. The raw RSA-2048 signing rate of one core. ---------------------------------------
# The machine may be shared, so the raw rate is measured again between the load runs: each
# concurrency is compared with the mean of the openssl runs just before and just after it.
echo "machine: $CORES cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'),"\
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
# RSA-2048 signs/s of one core from `openssl speed -seconds $1` (signs per CPU-second of user
# time, openssl's default divisor); the full output goes to $WORK/speed.$2.
raw_rate() {
    openssl speed -seconds "$1" rsa2048 2>/dev/null >"$WORK/speed.$2"
    awk '/^rsa 2048 bits/ { print $(NF - 1) }' "$WORK/speed.$2"
}
echo "openssl speed -seconds 3 rsa2048 ($(openssl version)), before the load:"
RAWS=("$(raw_rate 3 start)")
[[ -n "${RAWS[0]}" ]] || die "cannot read the RSA-2048 sign/s from openssl speed"
grep -E '^ *sign|^rsa' "$WORK/speed.start" | sed 's/^/  /'
# All cores signing at once (shared caches, SMT siblings or a host's neighbours may make this
# less than cores x the one-core rate): a second reference, before and after the load.
multi_rate() {
    openssl speed -multi "$CORES" -seconds 2 rsa2048 2>/dev/null |
        awk '/^rsa 2048 bits/ { print $(NF - 1) }'
}
MULTI=("$(multi_rate)")
echo "openssl speed -multi $CORES -seconds 2 rsa2048: ${MULTI[0]} signs/s on all cores at once"

# --- 2. The server. --------------------------------------------------------------------------
for _ in $(seq 1 20); do
    port_busy "$PORT" || break
    echo "port $PORT is busy, trying $((PORT + 1))" >&2
    PORT=$((PORT + 1))
done
port_busy "$PORT" && die "no free port found"
SERVE_FILE=$SCENARIO
if [[ "$PORT" != 7000 ]]; then
    SERVE_FILE=$WORK/connection.yaml
    sed "s#base_url: http://127.0.0.1:7000#base_url: http://127.0.0.1:$PORT#" \
        "$SCENARIO" >"$SERVE_FILE"
fi
BASE="http://127.0.0.1:$PORT"

"$BIN" --certs "$WORK/certs" serve "$SERVE_FILE" >"$WORK/serve.log" 2>&1 &
PID=$!
for ((i = 0; i < 500; i++)); do # up to ~10 s
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
        "$BASE/.well-known/openid-configuration")" == 200 ]] && break
    kill -0 "$PID" 2>/dev/null || die "fakta serve exited"
    sleep 0.02
done
((i < 500)) || die "no discovery answer from $BASE"
echo "server: $BIN (pid $PID) serving $SERVE_FILE on $BASE"

# --- 3. One authorization code flow for a refresh token. ------------------------------------
urlenc() { jq -rn --arg v "$1" '$v | @uri'; }
CURL=(curl -s --max-time 5)
AUTH_URL="$BASE/oauth2/v1/authorize?client_id=$CLIENT_ID&redirect_uri=$(urlenc "$REDIRECT_URI")&response_type=code&scope=openid%20offline_access%20email&state=s&nonce=n"

out=$("${CURL[@]}" -o /dev/null -w '%{http_code} %header{location}' "$AUTH_URL")
[[ "$out" == "302 "*"/login/login.htm?state="* ]] || die "authorize: expected a 302 to the login page, got: $out"
LOGIN_STATE=${out#*state=}
LOGIN_STATE=${LOGIN_STATE%%&*}

out=$("${CURL[@]}" -o /dev/null -w '%{http_code} %header{location}' \
    --data-urlencode "state=$LOGIN_STATE" --data-urlencode "username=$LOGIN_USER" \
    "$BASE/login/login.htm")
[[ "$out" == "302 "*"code="* ]] || die "login: expected a 302 with a code, got: $out"
CODE=${out#*code=}
CODE=${CODE%%&*}

"${CURL[@]}" -o "$WORK/code.json" -u "$CLIENT_ID:$CLIENT_SECRET" \
    --data-urlencode grant_type=authorization_code --data-urlencode "code=$CODE" \
    --data-urlencode "redirect_uri=$REDIRECT_URI" "$BASE/oauth2/v1/token"
REFRESH=$(jq -r '.refresh_token // empty' "$WORK/code.json")
[[ -n "$REFRESH" ]] || die "token (authorization_code): no refresh_token in $(cat "$WORK/code.json")"

BODY="grant_type=refresh_token&refresh_token=$(urlenc "$REFRESH")"
BASIC=$(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)

# One refresh grant by curl: both tokens, RS256, and what a request/response weighs.
out=$("${CURL[@]}" -o "$WORK/refresh.json" -w '%{http_code} %{size_upload} %{size_download}' \
    -H "Authorization: Basic $BASIC" -H 'Content-Type: application/x-www-form-urlencoded' \
    --data-binary "$BODY" "$BASE/oauth2/v1/token")
read -r status up down <<<"$out"
[[ "$status" == 200 ]] || die "token (refresh_token): HTTP $status: $(cat "$WORK/refresh.json")"
jq -e '(.access_token | split(".") | length == 3) and (.id_token | split(".") | length == 3)' \
    "$WORK/refresh.json" >/dev/null || die "refresh response lacks a JWT: $(cat "$WORK/refresh.json")"
alg=$(jq -r '.id_token | split(".")[0] | gsub("-"; "+") | gsub("_"; "/") | . + "==" | @base64d' \
    "$WORK/refresh.json" 2>/dev/null | jq -r .alg 2>/dev/null || echo '?')
echo "refresh grant: HTTP $status, id_token alg $alg, request body $up bytes, response $down bytes"

# --- 4. Load. ------------------------------------------------------------------------------
cat >"$WORK/refresh.lua" <<EOF
wrk.method = "POST"
wrk.body = "$BODY"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $BASIC"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.status, e.connect, e.read, e.write,
    e.timeout))
end
EOF

# CPU seconds the whole machine has been busy (all but idle and iowait), and the server has used.
machine_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '/^cpu / {
        printf "%.3f", ($2 + $3 + $4 + $7 + $8 + $9) / hz; exit }' /proc/stat
}
# CPU seconds (user + system) the server has used so far.
server_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$PID/stat"; }

TABLE=$WORK/table
printf '%-5s %8s %9s %7s %7s %7s %7s %8s %8s %9s %7s %7s %9s %s\n' conc req/s tokens/s p50_ms \
    p90_ms p99_ms max_ms srv_cpu rest_cpu sig/cpu-s raw/s sig/raw sig/multi errors >"$TABLE"
# Warm-up: one second at concurrency 2, not reported.
timeout 20 wrk -t1 -c2 -d1s --timeout 5s -s "$WORK/refresh.lua" "$BASE/oauth2/v1/token" >/dev/null

for i in "${!levels[@]}"; do
    c=${levels[i]}
    threads=$((c < WRK_THREADS_MAX ? c : WRK_THREADS_MAX))
    cpu0=$(server_cpu) all0=$(machine_cpu)
    timeout $((DURATION + 20)) wrk -t"$threads" -c"$c" -d"${DURATION}s" --timeout 5s \
        -s "$WORK/refresh.lua" "$BASE/oauth2/v1/token" >"$WORK/wrk.$i" 2>&1 ||
        die "wrk at concurrency $c failed: $(cat "$WORK/wrk.$i")"
    cpu1=$(server_cpu) all1=$(machine_cpu)
    kill -0 "$PID" 2>/dev/null || die "the server died under load"
    line=$(grep '^RESULT ' "$WORK/wrk.$i") || die "no wrk result: $(cat "$WORK/wrk.$i")"
    # The raw rate right after this level (and before the next); 3 s after the last one.
    if ((i == ${#levels[@]} - 1)); then secs=3; else secs=1; fi
    RAWS+=("$(raw_rate "$secs" "after.$i")")
    raw_local=$(awk -v a="${RAWS[-2]}" -v b="${RAWS[-1]:-${RAWS[-2]}}" \
        'BEGIN { printf "%.1f", (a + b) / 2 }')
    # key=value pairs of the RESULT line -> one row of raw figures (ratios come later).
    awk -v c="$c" -v cpu="$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }')" \
        -v all="$(awk -v a="$all0" -v b="$all1" 'BEGIN { print b - a }')" '{
            for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            s = v["duration_us"] / 1e6
            err = v["non2xx"] + v["connect"] + v["read"] + v["write"] + v["timeout"]
            print c, v["requests"] / s, v["p50_us"], v["p90_us"], v["p99_us"], v["max_us"],
                cpu / s, (all - cpu) / s, err }' <<<"$line" | tr '\n' ' ' >>"$WORK/rows"
    echo "$raw_local" >>"$WORK/rows"
done

MULTI+=("$(multi_rate)")
MULTI_MEAN=$(printf '%s\n' "${MULTI[@]}" | awk 'NF { t += $1; n++ } END { printf "%.1f", t / n }')
echo "raw RSA-2048 signs/s on all $CORES cores at once (openssl speed -multi $CORES, before and" \
    "after): ${MULTI[*]}, mean $MULTI_MEAN"
echo "raw RSA-2048 signs/s per core (openssl speed, -seconds 3 at start and end, 1 between levels):"
echo "  ${RAWS[*]}"
RAW=$(printf '%s\n' "${RAWS[@]}" | awk 'NF { t += $1; n++ } END { printf "%.1f", t / n }')
echo "  => mean $RAW per core; x $CORES cores = $(awk -v r="$RAW" -v c="$CORES" 'BEGIN { printf "%.1f", r * c }')"

while read -r c rps p50 p90 p99 mx cpu rest err raw; do
    awk -v c="$c" -v rps="$rps" -v p50="$p50" -v p90="$p90" -v p99="$p99" -v mx="$mx" \
        -v cpu="$cpu" -v rest="$rest" -v err="$err" -v raw="$raw" -v cores="$CORES" \
        -v multi="$MULTI_MEAN" 'BEGIN {
            printf "%-5d %8.1f %9.1f %7.2f %7.2f %7.2f %7.2f %7.0f%% %7.0f%% %9.1f %7.1f %7.3f %9.3f %d\n",
                c, rps, 2 * rps, p50 / 1000, p90 / 1000, p99 / 1000, mx / 1000, 100 * cpu,
                100 * rest, 2 * rps / cpu, raw, 2 * rps / (raw * cores), 2 * rps / multi, err }' \
        >>"$TABLE"
done <"$WORK/rows"

echo
echo "refresh_token grants, ${DURATION}s per concurrency (wrk, keep-alive, threads = min(conc, $WRK_THREADS_MAX)):"
cat "$TABLE"
echo
echo "tokens/s = 2 x req/s (an RS256 access token + an RS256 id_token per response: 2 RSA-2048"
echo "signatures); latencies from wrk; srv_cpu = server CPU time / wall time (100% = one core);"
echo "rest_cpu = CPU used by everything else on the machine (wrk included) / wall time;"
echo "sig/cpu-s = JWT signatures per server CPU-second (compare with raw/s, per core);"
echo "raw/s = raw RSA-2048 signs/s per core, mean of the openssl runs just before and after;"
echo "sig/raw = server JWT signatures/s / (raw/s x $CORES cores);"
echo "sig/multi = server JWT signatures/s / the all-cores openssl rate ($MULTI_MEAN)."
echo "server RSS after load: $(awk '/^VmRSS/ { print $2, $3 }' "/proc/$PID/status")"
