#!/usr/bin/env bash
# Hostile load against the release binary's IdP (`fakta serve`) on loopback: the memory attacks
# (a scope repeated to 189 KB, states and RelayStates of 190 KB, many pending logins at the
# largest accepted size, thousands of refreshes of a token asked with the longest scope
# accepted), the slow-client attack (many half-sent request heads) and the nesting attack
# (deeply nested AuthnRequests, both bindings). Prints what each phase got back, the server's
# peak resident memory (VmHWM from /proc/PID/status) and whether it still answers.
#
# Usage: cargo build --release && benches/hostile_load.sh
# Environment:
#   FAKTA_BIN  the binary (default: target/release/fakta)
#   PENDING    pending logins to create (default: 20000; 1..100000)
#   REFRESHES  refresh grants to make (default: 3000; 1..20000)
#   SLOW       half-sent request heads to open (default: 1000; 1..5000)
#
# Binds and targets only 127.0.0.1, on a free port the kernel picks. Bounded: the counts above
# are capped, every socket has a timeout, the driver runs under `timeout 600`, and the server is
# stopped (SIGTERM, then SIGKILL) on exit, even on failure. Needs python3 (standard library).
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${FAKTA_BIN:-target/release/fakta}
PENDING=${PENDING:-20000}
REFRESHES=${REFRESHES:-3000}
SLOW=${SLOW:-1000}

WORK=$(mktemp -d /tmp/fakta-hostile-load.XXXXXX)
PID=""
cleanup() {
    if [[ -n "$PID" ]]; then
        kill -TERM "$PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
    echo "hostile_load: $*" >&2
    [[ -s "$WORK/serve.log" ]] && tail -20 "$WORK/serve.log" | sed 's/^/  serve: /' >&2
    exit 1
}

command -v python3 >/dev/null || die "python3 not found"
[[ -x "$BIN" ]] || die "$BIN not found; run cargo build --release first"
within() { [[ "$1" =~ ^[0-9]+$ ]] && (($1 >= $2 && $1 <= $3)); }
within "$PENDING" 1 100000 || die "PENDING must be 1..100000"
within "$REFRESHES" 1 20000 || die "REFRESHES must be 1..20000"
within "$SLOW" 1 5000 || die "SLOW must be 1..5000"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
# One SAML app and one OIDC app on the same IdP.
cat >"$WORK/connection.yaml" <<EOF
idp:
  base_url: $BASE
directory:
  users:
    - { id: 00u1alice, email: alice@acme.test, name: Alice Admin, groups: [Qovery-Admins] }
apps:
  - id: qovery
    name: acme_qovery_1
    protocol: saml
    audience: urn:auth0:qovery:acme
    acs_url: http://127.0.0.1:7100/login/callback?connection=acme
    allow_idp_initiated: true
  - id: qovery-oidc
    protocol: oidc
    client_id: 0oa1qoveryweb
    client_secret: fakta-demo-secret-change-me
    token_endpoint_auth_method: client_secret_basic
    redirect_uris: [http://127.0.0.1:7100/login/oidc/callback]
EOF

"$BIN" --certs "$WORK/certs" serve "$WORK/connection.yaml" >"$WORK/serve.log" 2>&1 &
PID=$!
for ((i = 0; i < 200; i++)); do # up to ~10 s
    grep -q "fakta IdP listening" "$WORK/serve.log" 2>/dev/null && break
    kill -0 "$PID" 2>/dev/null || die "fakta serve exited"
    sleep 0.05
done
((i < 200)) || die "fakta serve did not start"
echo "server: $BIN (pid $PID) on $BASE; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "at start: $(grep -E '^VmRSS' /proc/$PID/status | tr -s ' \t' ' ')"

cat >"$WORK/driver.py" <<'PY'
import base64, http.client, os, socket, sys, threading, time, urllib.parse, zlib

port, pid = int(sys.argv[1]), int(sys.argv[2])
PENDING, REFRESHES, SLOW = (int(x) for x in sys.argv[3:6])
HOST = "127.0.0.1"
CLIENT, SECRET = "0oa1qoveryweb", "fakta-demo-secret-change-me"
REDIRECT = "http://127.0.0.1:7100/login/oidc/callback"
BASIC = "Basic " + base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SSO = "/app/acme_qovery_1/qovery/sso/saml"

def status(key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key):
            return int(line.split()[1])  # kB
    return 0

def fds():
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1

def conn():
    return http.client.HTTPConnection(HOST, port, timeout=20)

def request(c, method, path, body=None, headers=None):
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    return r.status, r.getheader("Location") or "", data

def once(method, path, body=None, headers=None):
    c = conn()
    try:
        return request(c, method, path, body, headers)
    finally:
        c.close()

def answers():
    t = time.monotonic()
    try:
        s, _, _ = once("GET", "/.well-known/openid-configuration")
        return f"HTTP {s} in {1000 * (time.monotonic() - t):.0f} ms"
    except Exception as e:  # noqa: BLE001 (any failure is the answer)
        return f"no answer ({type(e).__name__}: {e})"

def outcome(s, loc):
    """An answer in words: a redirect with an OAuth error, to the login page, or a status."""
    if s == 302 and "error=" in loc:
        q = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)
        return f"302 error={q['error'][0]}"
    if s == 302 and "/login/login.htm" in loc:
        return "302 login page"
    return str(s)

def report(phase, what):
    print(f"{phase:<34} {what:<58} VmRSS {status('VmRSS') / 1024:6.1f} MB  "
          f"VmHWM {status('VmHWM') / 1024:6.1f} MB", flush=True)

def parallel(n, threads, work):
    """Runs work(c, i) for i in 0..n on `threads` keep-alive connections; counts statuses."""
    counts, lock = {}, threading.Lock()
    def run(k):
        c = conn()
        for i in range(k, n, threads):
            try:
                s = work(c, i)
            except Exception as e:  # noqa: BLE001
                s = type(e).__name__
                c.close()
                c = conn()
            with lock:
                counts[s] = counts.get(s, 0) + 1
        c.close()
    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in ts: t.start()
    for t in ts: t.join()
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=str))

def authorize_query(**extra):
    p = {"client_id": CLIENT, "redirect_uri": REDIRECT, "response_type": "code",
         "scope": "openid email", "state": "s", "nonce": "n"}
    p.update(extra)
    return urllib.parse.urlencode(p)

def login_for_refresh(scope):
    s, loc, body = once("GET", "/oauth2/v1/authorize?" + authorize_query(scope=scope))
    assert s == 302 and "/login/login.htm?state=" in loc, (s, loc, body[:200])
    token = loc.split("state=", 1)[1]
    s, loc, _ = once("POST", "/login/login.htm",
                     urllib.parse.urlencode({"state": token, "username": "00u1alice"}), FORM)
    assert s == 302 and "code=" in loc, (s, loc)
    code = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)["code"][0]
    s, _, body = once("POST", "/oauth2/v1/token", urllib.parse.urlencode(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}),
        dict(FORM, Authorization=BASIC))
    assert s == 200, (s, body[:300])
    import json
    return json.loads(body)

report("start", answers())

# 1. The scope repeated 27,000 times (189 KB): refused before anything is kept.
huge_scope = "openid " * 27000
s, loc, _ = once("POST", "/oauth2/v1/authorize", authorize_query(scope=huge_scope), FORM)
s2, loc2, _ = once("GET", "/oauth2/v1/authorize?" + authorize_query(scope=huge_scope))
report("scope x27,000 (189 KB)", f"POST: {outcome(s, loc)}, GET: {outcome(s2, loc2)}")

# 2. The longest scope accepted (4 KiB of repeats), then refreshes: deduplicated tokens.
long_scope = ("openid offline_access email " * 200)[:4090].rsplit(" ", 1)[0]
tokens = login_for_refresh(long_scope)
rt = tokens["refresh_token"]
at_len = len(tokens["access_token"])
refresh_body = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": rt})
t = time.monotonic()
got = parallel(REFRESHES, 4, lambda c, i: request(
    c, "POST", "/oauth2/v1/token", refresh_body, dict(FORM, Authorization=BASIC))[0])
report(f"{REFRESHES} refreshes ({len(long_scope)} B scope)",
       f"{got}; access token {at_len} B; {time.monotonic() - t:.1f} s")

# 3. A 190 KB state (POST) and a 60 KB one (GET, under the 64 KiB head limit): refused.
s, loc, _ = once("POST", "/oauth2/v1/authorize", authorize_query(state="s" * 190_000), FORM)
s2, loc2, _ = once("GET", "/oauth2/v1/authorize?" + authorize_query(state="s" * 60_000))
report("state 190 KB / 60 KB", f"POST: {outcome(s, loc)}, GET: {outcome(s2, loc2)}")

# 4. Many pending logins at the largest accepted size (state, nonce, login_hint 4 KiB each).
big = authorize_query(state="s" * 4096, nonce="n" * 4096, login_hint="h" * 4096)
t = time.monotonic()
got = parallel(PENDING, 8, lambda c, i: outcome(*request(c, "GET", "/oauth2/v1/authorize?" + big)[:2]))
report(f"{PENDING} pending OIDC logins x12 KiB", f"{got}; {time.monotonic() - t:.1f} s")

# 5. RelayState: 190 KB (POST) and 60 KB (GET) refused; many at the 1 KiB cap kept pending.
xml = ('<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
       'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" '
       'IssueInstant="2026-11-28T09:00:00Z"><saml:Issuer>urn:auth0:qovery:acme</saml:Issuer>'
       '</samlp:AuthnRequest>')
post = urllib.parse.urlencode({"SAMLRequest": base64.b64encode(xml.encode()).decode(),
                               "RelayState": "r" * 190_000})
s, _, _ = once("POST", SSO, post, FORM)
s2, _, _ = once("GET", SSO + "?" + urllib.parse.urlencode({"RelayState": "r" * 60_000}))
relay = SSO + "?" + urllib.parse.urlencode({"RelayState": "r" * 1024})
got = parallel(PENDING, 8, lambda c, i: outcome(*request(c, "GET", relay)[:2]))
report(f"RelayState 190/60 KB, {PENDING} x1 KiB", f"POST: {s}, GET: {s2}; at the cap: {got}")

# 6. Nesting: 15,000 levels by POST (about 3,000 overflowed a worker's stack before the depth
# limit), 1,000,000 by Redirect (deflated).
deep = "<a>" * 15_000 + "</a>" * 15_000
s, _, body = once("POST", SSO, urllib.parse.urlencode(
    {"SAMLRequest": base64.b64encode(deep.encode()).decode()}), FORM)
deeper = "<a>" * 1_000_000 + "</a>" * 1_000_000
z = zlib.compressobj(9, zlib.DEFLATED, -15)
raw = z.compress(deeper.encode()) + z.flush()
s2, _, body2 = once("GET", SSO + "?" + urllib.parse.urlencode(
    {"SAMLRequest": base64.b64encode(raw).decode()}))
report("nesting 15k (POST) / 1M (Redirect)", f"POST: {s}, Redirect: {s2} ({len(raw)} B deflated)")

# 7. Slow clients: half-sent heads, all at once; then a client that behaves.
socks, failed = [], 0
for _ in range(SLOW):
    try:
        so = socket.create_connection((HOST, port), timeout=5)
        so.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        socks.append(so)
    except OSError:
        failed += 1
time.sleep(0.5)
report(f"{SLOW} half-sent heads", f"{len(socks)} open, {failed} refused; server fds {fds()}; "
       f"then: {answers()}")
t = time.monotonic()
time.sleep(11)  # the header-read timeout is 10 s
busy = cut = still_open = 0
for so in socks:
    so.settimeout(0.05)
    got = b""
    try:
        while chunk := so.recv(4096):
            got += chunk
        closed = True
    except socket.timeout:
        closed = False
    except OSError:
        closed = True
    so.close()
    if got.startswith(b"HTTP/1.1 503"):
        busy += 1
    elif closed:
        cut += 1
    else:
        still_open += 1
report("after 11 s", f"{busy} got a 503 at once, {cut} cut, {still_open} open; "
       f"fds {fds()}; then: {answers()}")

# 8. Slow bodies: requests that announce a 190 KB form, send most of it and stall, holding
# what the server buffered until the request timeout (30 s) cuts them.
heavy, failed = [], 0
head = (f"POST /oauth2/v1/token HTTP/1.1\r\nHost: x\r\nContent-Type: "
        f"application/x-www-form-urlencoded\r\nContent-Length: 190000\r\n\r\n").encode()
for _ in range(min(SLOW, 300)):
    try:
        so = socket.create_connection((HOST, port), timeout=5)
        so.sendall(head + b"a" * 180_000)
        heavy.append(so)
    except OSError:
        failed += 1
time.sleep(1)
report(f"{len(heavy)} stalled 180 KB bodies", f"{failed} refused; fds {fds()}; then: {answers()}")
for so in heavy:
    so.close()

print(f"PEAK VmHWM {status('VmHWM') / 1024:.1f} MB; server answers: {answers()}", flush=True)
PY

timeout 600 python3 "$WORK/driver.py" "$PORT" "$PID" "$PENDING" "$REFRESHES" "$SLOW" ||
    die "the driver failed"
kill -0 "$PID" 2>/dev/null || die "the server died"
t0=$(date +%s.%N)
kill -TERM "$PID"
for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$PID" 2>/dev/null; then
    echo "SIGTERM: still running after 10 s"
else
    wait "$PID" && rc=0 || rc=$?
    echo "SIGTERM: exited $rc after $(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || echo '?') s"
fi
PID=""
