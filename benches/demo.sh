#!/usr/bin/env bash
# Measures `fakta demo` (both shipped packs against the in-process reference SP): wall time per
# run over RUNS runs (median, max), and the per-trial latency from the JUnit report (median, p90,
# max; each trial is one or two full browser logins plus probes). Release build; loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
BIN=${FAKTA_BIN:-target/release/fakta}
[ -n "${FAKTA_BIN:-}" ] || cargo build --release --locked -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$BIN" --certs "$work/certs" keys show >/dev/null 2>&1
times=()
for i in $(seq 1 "$RUNS"); do
  start=$(date +%s%N)
  "$BIN" --certs "$work/certs" demo --junit "$work/junit-$i.xml" >/dev/null
  end=$(date +%s%N)
  times+=($(( (end - start) / 1000000 )))
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(echo "$sorted" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
max=$(echo "$sorted" | tail -1)
echo "fakta demo wall time over $RUNS runs: median ${median} ms, max ${max} ms (target: < 3000 ms)"
python3 - "$work" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
t = sorted(float(c.get("time", 0)) * 1000 for f in glob.glob(sys.argv[1] + "/junit-*.xml") for c in ET.parse(f).iter("testcase"))
n = len(t)
print(f"per-trial latency over {n} trials: median {t[n//2]:.1f} ms, p90 {t[int(n*0.9)]:.1f} ms, max {t[-1]:.1f} ms")
PY
