#!/usr/bin/env bash
# fakta next to two npm OIDC servers used as mocks, one after another in the same run on
# 127.0.0.1: oauth2-mock-server, and oidc-provider (an OpenID Provider library that Node mocks
# are built on), started with a minimal in-memory configuration (op.mjs below), pinned versions
# installed with npm into a temporary folder. For each: start-up (spawn to the first discovery
# answer), idle RSS one second later, and signed tokens per second at concurrency 2 and 16
# (wrk; every answer must hold an access_token that is a JWT), each client_credentials (one
# RS256 signature a token; fakta on its `default` custom authorization server). Rates are also
# given divided by `openssl speed rsa2048` of the same run (signs/s, one core), the physical
# limit per core. A bench, not part of CI.
#
# Usage: cargo build --release && benches/compare.sh
# Environment: FAKTA_BIN (default target/release/fakta), PORT (first of three, default 7600),
# DURATION (seconds per level, default 5).
#
# Binds and targets only 127.0.0.1. Every wait is bounded; each server is stopped before the
# next starts and on exit. Needs node and npm (Node 20 or later), wrk, curl, openssl.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${FAKTA_BIN:-target/release/fakta}")
PORT=${PORT:-7600}
DURATION=${DURATION:-5}
OAUTH2_MOCK_SERVER=oauth2-mock-server@9.3.0
OIDC_PROVIDER=oidc-provider@9.13.3
WORK=$(mktemp -d /tmp/fakta-compare.XXXXXX)
PID=""
stop_server() {
    if [[ -n "$PID" ]]; then
        kill -TERM "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
        PID=""
    fi
}
trap 'stop_server; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
die() { echo "compare: $*" >&2; [[ -s "$WORK/server.log" ]] && sed 's/^/  server: /' "$WORK/server.log" >&2; exit 1; }
for tool in node npm wrk curl openssl; do command -v "$tool" >/dev/null || die "$tool not found"; done
[[ -x "$BIN" ]] || die "$BIN not found; run cargo build --release first"
[[ "$DURATION" =~ ^[0-9]+$ ]] && ((DURATION >= 1 && DURATION <= 60)) || die "DURATION: 1..60"

echo "installing $OAUTH2_MOCK_SERVER $OIDC_PROVIDER into $WORK/npm"
mkdir -p "$WORK/npm"
(cd "$WORK/npm" && timeout 300 npm install --no-audit --no-fund --silent \
    "$OAUTH2_MOCK_SERVER" "$OIDC_PROVIDER" >/dev/null) || die "npm install failed"
cat >"$WORK/npm/op.mjs" <<'EOF'
// oidc-provider with one confidential client and JWT access tokens for client_credentials.
import Provider from 'oidc-provider';
const port = Number(process.argv[2]);
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{ client_id: 'bench', client_secret: 'bench-secret', grant_types: ['client_credentials'],
              redirect_uris: [], response_types: [] }],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:bench',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({ scope: 'api', audience: 'urn:bench', accessTokenFormat: 'jwt',
                                       jwt: { sign: { alg: 'RS256' } } }),
    },
  },
});
provider.listen(port, '127.0.0.1');
EOF
cat >"$WORK/fakta.yaml" <<EOF
idp:
  base_url: http://127.0.0.1:$((PORT + 2))
directory:
  users: [{ id: 00u1alice, email: alice@acme.test }]
apps:
  - id: service
    protocol: oidc
    client_id: bench
    client_secret: bench-secret
    redirect_uris: [http://127.0.0.1:7100/cb]
    authorization_server: default
    grant_types: [client_credentials]
EOF
"$BIN" --certs "$WORK/certs" keys show >/dev/null
"$BIN" --certs "$WORK/certs" check "$WORK/fakta.yaml" >/dev/null || die "the fakta file is invalid"

raw_rate() { openssl speed -seconds 2 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ { print $(NF - 1) }'; }
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
RAW0=$(raw_rate)

# name port discovery-path token-path scope command...
run() {
    local name=$1 port=$2 discovery=$3 token=$4 scope=$5 t0 ready_ms rss c
    shift 5
    t0=$EPOCHREALTIME
    "$@" >"$WORK/server.log" 2>&1 &
    PID=$!
    local i
    for ((i = 0; i < 1500; i++)); do # up to ~30 s
        [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port$discovery")" == 200 ]] && break
        kill -0 "$PID" 2>/dev/null || die "$name exited"
        sleep 0.02
    done
    ((i < 1500)) || die "$name: no discovery answer"
    ready_ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
    sleep 1
    rss=$(awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$PID/status")
    cat >"$WORK/token.lua" <<EOF
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=$scope"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $(printf 'bench:bench-secret' | base64 -w0)"
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) bad = 0 end
response = function(status, headers, body)
  if status ~= 200 or not string.find(body, '"access_token":"eyJ[%w_-]+%.[%w_-]+%.[%w_-]+"') then
    bad = bad + 1
  end
end
done = function(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("bad") end
  io.write(string.format("RESULT %d %d %d\n", summary.requests, summary.duration, n))
end
EOF
    local rates=()
    for c in 2 16; do
        timeout $((DURATION + 20)) wrk -t2 -c"$c" -d"${DURATION}s" --timeout 5s -s "$WORK/token.lua" \
            "http://127.0.0.1:$port$token" >"$WORK/wrk.out" 2>&1 || die "$name: wrk failed"
        read -r _ n us bad < <(grep '^RESULT' "$WORK/wrk.out") || die "$name: no wrk result"
        ((bad == 0)) || die "$name: $bad answers at c=$c without a signed JWT: $(cat "$WORK/wrk.out")"
        rates+=("$(awk -v n="$n" -v us="$us" 'BEGIN { printf "%.0f", n / (us / 1e6) }')")
    done
    stop_server
    awk -v name="$name" -v ready="$ready_ms" -v rss="$rss" -v r2="${rates[0]}" -v r16="${rates[1]}" \
        -v raw="$RAW0" 'BEGIN { printf "%-20s %9s %7s %9s %6.2fx %9s %6.2fx\n", name, ready, rss, r2,
        r2 / raw, r16, r16 / raw }' >>"$WORK/table"
}

run "oauth2-mock-server" "$PORT" /.well-known/openid-configuration /token api \
    node "$WORK/npm/node_modules/oauth2-mock-server/dist/oauth2-mock-server.mjs" -a 127.0.0.1 -p "$PORT"
run "oidc-provider" "$((PORT + 1))" /.well-known/openid-configuration /token api \
    node "$WORK/npm/op.mjs" "$((PORT + 1))"
run "fakta serve" "$((PORT + 2))" /oauth2/default/.well-known/openid-configuration \
    /oauth2/default/v1/token fakta.read "$BIN" --certs "$WORK/certs" serve "$WORK/fakta.yaml"
RAW1=$(raw_rate)
printf '%-20s %9s %7s %9s %7s %9s %7s\n' server ready_ms rss_MB 'tok/s c2' '/raw' 'tok/s c16' '/raw'
cat "$WORK/table"
echo "raw RSA-2048 signs/s, one core: $RAW0 before, $RAW1 after (/raw: tokens/s over the first);"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
