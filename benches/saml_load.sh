#!/usr/bin/env bash
# SAML logins per second over HTTP, next to the physical limit: the release binary serving the
# shipped SAML example (`sign: both`: Response and Assertion signed, two RSA-2048 signatures per
# login), driven by wrk on loopback with SP-initiated logins: each request carries a deflated
# AuthnRequest (HTTP-Redirect binding) and the IdP session cookie of one password login made
# before, and is answered with the auto-submit form holding the signed Response (checked in
# every answer). The raw RSA-2048 rate of the same machine is taken before and after the load
# (`openssl speed`), so the figure is a ratio: logins per server CPU-second (user + system time
# of the server process, from /proc/<pid>/stat, so what wrk and other processes use on the
# shared cores is not counted) against the mean of the two raw rates / 2 (two signatures a
# login; openssl's rate is per CPU-second of one core too). On a busy machine the raw rate moves
# between the two readings: compare the logins/cpu-s column of two binaries run one after the
# other.
#
# Usage: cargo build --release && benches/saml_load.sh
# Environment:
#   FAKTA_BIN    the binary (default: target/release/fakta)
#   PORT         the port (default: 7500; must be free)
#   CONCURRENCY  connection counts to measure (default: "1 2 8")
#   DURATION     seconds per concurrency (default: 5)
#
# Binds and targets only 127.0.0.1. Every wait is bounded (curl --max-time, `timeout` around
# wrk, a bounded start-up poll); the server is killed on exit, even on failure. Needs curl, wrk
# (apt-get install -y wrk), python3 and openssl.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FAKTA_BIN:-target/release/fakta}
PORT=${PORT:-7500}
CONCURRENCY=${CONCURRENCY:-1 2 8}
DURATION=${DURATION:-5}
BASE="http://127.0.0.1:$PORT"
APP=qovery
SSO="$BASE/app/acme_qovery_1/$APP/sso/saml"
WORK=$(mktemp -d /tmp/fakta-saml-load.XXXXXX)
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
die() {
    echo "saml_load: $*" >&2
    [[ -s "$WORK/serve.log" ]] && sed 's/^/  serve: /' "$WORK/serve.log" >&2
    exit 1
}
for tool in curl wrk python3 openssl; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
[[ -x "$BIN" ]] || die "$BIN not found; run cargo build --release first"
[[ "$DURATION" =~ ^[0-9]+$ ]] && ((DURATION >= 1 && DURATION <= 60)) || die "DURATION: 1..60"
read -ra levels <<<"$CONCURRENCY"
((${#levels[@]} >= 1 && ${#levels[@]} <= 8)) || die "CONCURRENCY must list 1..8 levels"
for c in "${levels[@]}"; do
    [[ "$c" =~ ^[0-9]+$ ]] && ((c >= 1 && c <= 256)) || die "concurrency $c is not in 1..256"
done
CORES=$(nproc)

raw_rate() { # signs/s of one core (per CPU-second of user time, openssl's divisor)
    openssl speed -seconds "$1" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ { print $(NF - 1) }'
}
echo "machine: $CORES cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (uptime)"
RAW0=$(raw_rate 3)
[[ -n "$RAW0" ]] || die "cannot read the RSA-2048 signs/s from openssl speed"

# The shipped example on this run's port.
sed "s#base_url: http://127.0.0.1:7000#base_url: $BASE#" scenarios/qovery-saml.yaml \
    >"$WORK/connection.yaml"
grep -q '^    sign: both ' "$WORK/connection.yaml" || die "the example no longer signs both"
"$BIN" --certs "$WORK/certs" serve "$WORK/connection.yaml" >"$WORK/serve.log" 2>&1 &
PID=$!
for ((i = 0; i < 500; i++)); do # up to ~10 s
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/app/$APP/sso/saml/metadata")" == 200 ]] && break
    kill -0 "$PID" 2>/dev/null || die "fakta serve exited"
    sleep 0.02
done
((i < 500)) || die "no metadata answer from $BASE"

# An AuthnRequest as an SP sends it (HTTP-Redirect: raw DEFLATE, base64, URL-encoded), for the
# example's audience and ACS URL.
QUERY=$(python3 - "$SSO" <<'PY'
import base64, sys, urllib.parse, zlib
sso = sys.argv[1]
xml = ('<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
       'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_bench0001" Version="2.0" '
       'IssueInstant="2026-01-01T00:00:00Z" Destination="%s" '
       'AssertionConsumerServiceURL="http://127.0.0.1:7100/login/callback?connection=acme" '
       'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">'
       '<saml:Issuer>urn:auth0:qovery:acme</saml:Issuer></samlp:AuthnRequest>' % sso)
c = zlib.compressobj(9, zlib.DEFLATED, -15)
raw = c.compress(xml.encode()) + c.flush()
print("SAMLRequest=" + urllib.parse.quote(base64.b64encode(raw).decode(), safe="")
      + "&RelayState=bench")
PY
)
URL="$SSO?$QUERY"

# One password login for the session cookie: the request, the login page, the form.
out=$(curl -s -o /dev/null -c "$WORK/jar" --max-time 5 -w '%{http_code} %header{location}' "$URL")
[[ "$out" == "302 /login/login.htm?state="* ]] || die "SSO without a session: $out"
state=${out#*state=}
curl -s -o "$WORK/first.html" -b "$WORK/jar" -c "$WORK/jar" --max-time 5 \
    --data-urlencode "state=$state" --data-urlencode "username=00u1alice" "$BASE/login/login.htm"
grep -q 'name="SAMLResponse"' "$WORK/first.html" || die "the login gave no SAMLResponse"
SID=$(awk '$6 == "sid" { print $7 }' "$WORK/jar")
[[ -n "$SID" ]] || die "no IdP session cookie after the login"
curl -s -o "$WORK/again.html" -b "sid=$SID" --max-time 5 "$URL"
grep -q 'name="SAMLResponse"' "$WORK/again.html" || die "a login with the session gave no form"
python3 - "$WORK/again.html" <<'PY' || die "the Response is not signed twice"
import base64, html, re, sys
page = open(sys.argv[1]).read()
value = html.unescape(re.search(r'name="SAMLResponse" value="([^"]+)"', page).group(1))
xml = base64.b64decode(value).decode()
assert xml.count("<ds:SignatureValue>") == 2, xml.count("<ds:SignatureValue>")
assert 'InResponseTo="_bench0001"' in xml
PY
echo "one login: AuthnRequest (HTTP-Redirect) + session cookie -> $(wc -c <"$WORK/again.html") bytes, Response and Assertion signed"

cat >"$WORK/login.lua" <<EOF
wrk.headers["Cookie"] = "sid=$SID"
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) unsigned = 0 end
-- Every answer must be the form with a SAMLResponse (each a signed Response).
response = function(status, headers, body)
  if status ~= 200 or not string.find(body, 'name="SAMLResponse"', 1, true) then
    unsigned = unsigned + 1
  end
end
done = function(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("unsigned") end
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    bad + summary.errors.connect + summary.errors.read + summary.errors.timeout))
end
EOF
server_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$PID/stat"; }
timeout 20 wrk -t1 -c2 -d1s --timeout 5s -s "$WORK/login.lua" "$URL" >/dev/null
ROWS=()
for c in "${levels[@]}"; do
    cpu0=$(server_cpu)
    timeout $((DURATION + 20)) wrk -t1 -c"$c" -d"${DURATION}s" --timeout 5s -s "$WORK/login.lua" \
        "$URL" >"$WORK/wrk.$c" 2>&1 || die "wrk at $c failed: $(cat "$WORK/wrk.$c")"
    cpu1=$(server_cpu)
    kill -0 "$PID" 2>/dev/null || die "the server died under load"
    line=$(grep '^RESULT ' "$WORK/wrk.$c") || die "no wrk result: $(cat "$WORK/wrk.$c")"
    grep -q 'Non-2xx' "$WORK/wrk.$c" && die "non-2xx answers at $c: $(cat "$WORK/wrk.$c")"
    eval "$(sed 's/^RESULT //' <<<"$line")"
    ((errors == 0)) || die "$errors failed requests at concurrency $c"
    ROWS+=("$c $requests $duration_us $p50_us $p99_us $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }')")
done
RAW1=$(raw_rate 3)
[[ -n "$RAW1" ]] || die "cannot read the RSA-2048 signs/s from openssl speed"
printf '%-5s %9s %8s %8s %10s %12s %10s\n' conc logins/s p50_ms p99_ms srv_cpu_s logins/cpu-s vs_limit
for row in "${ROWS[@]}"; do
    read -r c requests duration_us p50_us p99_us cpu <<<"$row"
    awk -v r="$requests" -v d="$duration_us" -v p50="$p50_us" -v p99="$p99_us" -v c="$c" \
        -v cpu="$cpu" -v raw="$(awk -v a="$RAW0" -v b="$RAW1" 'BEGIN { print (a + b) / 2 }')" 'BEGIN {
        rate = r / (d / 1e6); per = (cpu > 0) ? r / cpu : 0
        printf "%-5s %9.0f %8.2f %8.2f %10.2f %12.0f %9.2fx\n", c, rate, p50 / 1000, p99 / 1000,
            cpu, per, per / (raw / 2) }'
done
echo "raw RSA-2048 signs/s, one core: $RAW0 before, $RAW1 after; the two-signature limit is half"
echo "their mean per server CPU-second. vs_limit: logins per server CPU-second / (mean raw / 2)."
echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
