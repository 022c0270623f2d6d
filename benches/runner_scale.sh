#!/usr/bin/env bash
# The runner at scale: the shipped SAML file with N generated scenarios (logins of the file's
# users, each checking the role the SP gave), run by `fakta test` against the reference SP
# (`fakta sp`, started by the file's target.start) with the release binary. Prints trials, wall
# time of the run (the SP's start included; the keys folder made before), trials/s, the CPU of
# `fakta test` (runner and IdP, user+sys; not the SP's: it runs under `sh -c`, which the stop
# signal ends first, so the SP is nobody's reaped child), and the raw RSA-2048 rate of this
# machine taken in the same run (each trial is one signed SAML login: two signatures).
#
# Usage: cargo build --release && benches/runner_scale.sh
# Environment: FAKTA_BIN (default target/release/fakta), N (scenarios, default 1000; at most
# 100,000), THREADS (--test-threads; default: none, fakta's own default of 4 per core),
# PORT_BASE (default 7400).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${FAKTA_BIN:-target/release/fakta}")
N=${N:-1000}
THREADS=${THREADS:-}
PORT_BASE=${PORT_BASE:-7400}
(( N >= 1 && N <= 100000 )) || { echo "N must be 1..100000" >&2; exit 1; }
[[ -x "$BIN" ]] || { echo "$BIN not found; run cargo build --release first" >&2; exit 1; }
WORK=$(mktemp -d /tmp/fakta-runner-scale.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
IDP=$PORT_BASE SP=$((PORT_BASE + 1))
# The shipped file on other ports, without its own scenarios, with the SP started by fakta.
sed -e "s#127.0.0.1:7000#127.0.0.1:$IDP#g; s#127.0.0.1:7100#127.0.0.1:$SP#g" \
    -e '/^scenarios:/,$d' -e 's/^  attacks: true/  attacks: false/' \
    scenarios/qovery-saml.yaml >"$WORK/big.yaml"
python3 - "$N" >>"$WORK/big.yaml" <<'PY'
import sys
n = int(sys.argv[1])
users = [("00u1alice", "admin"), ("00u2bob", "viewer"), ("00u3dora", "devops"), ("00u4max", "admin")]
print("scenarios:")
for i in range(n):
    u, role = users[i % len(users)]
    print(f"  - name: G{i:06d}_{u}_gets_{role}")
    print(f"    user: {u}")
    print(f"    steps: [login, {{ expect: {{ role: {role} }} }}]")
PY
printf '  start: %q --certs %q sp big.yaml\n' "$BIN" "$WORK/certs" >"$WORK/start"
# target.start goes under target:
python3 - "$WORK/big.yaml" "$(cat "$WORK/start")" <<'PY'
import sys
path, start = sys.argv[1], sys.argv[2]
text = open(path).read().replace("\ntarget:\n", "\ntarget:\n" + start + "\n", 1)
open(path, "w").write(text)
PY
"$BIN" --certs "$WORK/certs" check "$WORK/big.yaml" >/dev/null
# The keys folder is made before the timing, as a user's certs/ exists after the first run:
# the time is that of the trials, the runner's and the SP's start, not of RSA key generation.
"$BIN" --certs "$WORK/certs" keys show >/dev/null
t0=$EPOCHREALTIME
cpu0=$(awk '{ print $16 + $17 }' /proc/$$/stat)   # cutime + cstime: waited-for children
"$BIN" --certs "$WORK/certs" test ${THREADS:+--test-threads "$THREADS"} --junit "$WORK/junit.xml" "$WORK/big.yaml" >"$WORK/out.txt" 2>&1 ||
    { tail -20 "$WORK/out.txt" >&2; exit 1; }
t1=$EPOCHREALTIME
cpu1=$(awk '{ print $16 + $17 }' /proc/$$/stat)
grep '^test result' "$WORK/out.txt"
python3 - "$WORK/junit.xml" "$t0" "$t1" "${THREADS:-default}" "$((cpu1 - cpu0))" "$(getconf CLK_TCK)" <<'PY'
import sys, xml.etree.ElementTree as ET
cases = list(ET.parse(sys.argv[1]).iter("testcase"))
wall = float(sys.argv[3]) - float(sys.argv[2])
busy = sum(float(c.get("time", 0)) for c in cases)
cpu = int(sys.argv[5]) / int(sys.argv[6])
print(f"{len(cases)} trials in {wall:.2f} s wall (SP start included): {len(cases) / wall:.0f} trials/s "
      f"at --test-threads {sys.argv[4]}; sum of trial times {busy:.2f} s; CPU {cpu:.2f} s "
      f"(runner and IdP, not the SP)")
PY
echo "raw RSA-2048 signs/s, one core (openssl speed): $(openssl speed -seconds 2 rsa2048 2>/dev/null | awk '/^rsa 2048/ { print $6 }')"
