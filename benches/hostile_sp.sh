#!/usr/bin/env bash
# Runs `fakta test` (release) against a tiny hostile SP on loopback and prints, per kind of
# hostility, the run's wall time, peak RSS and how its trials ended. The SP (Python, stdlib):
#   endless  answers every request 200 with a body that never ends
#   silent   accepts connections and never answers
#   slow     answers headers, then one byte every half second, forever
# The connection file is the shipped SAML pack (attack pack included) moved to free ports.
# Bounded: each run has --timeout $BUDGET (default 60 s); the SP is killed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FAKTA_BIN:-target/release/fakta}
BUDGET=${BUDGET:-60}
MODES=${MODES:-endless silent slow}
[ -n "${FAKTA_BIN:-}" ] || cargo build --release --locked -q
work=$(mktemp -d)
sp_pid=
cleanup() {
  if [ -n "$sp_pid" ]; then kill "$sp_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/hostile_sp.py" <<'PY'
import socket, sys, threading, time
mode, port = sys.argv[1], int(sys.argv[2])

def serve(conn):
    try:
        conn.settimeout(600)
        conn.recv(65536)
        if mode == "endless":
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ntransfer-encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n" % 65536 + b"<p>" * (65536 // 3) + b"x" + b"\r\n"
            while True:
                conn.sendall(chunk)
        elif mode == "silent":
            while conn.recv(65536):
                pass
        elif mode == "slow":
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 100000\r\n\r\n")
            while True:
                conn.sendall(b"x")
                time.sleep(0.5)
    except OSError:
        pass
    finally:
        conn.close()

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(128)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

"$BIN" --certs "$work/certs" keys show >/dev/null 2>&1
printf '%-8s %10s %14s  %s\n' mode "wall (s)" "peak RSS (MiB)" "trials"
for mode in $MODES; do
  idp=$(free_port)
  sp=$(free_port)
  sed -e "s/127.0.0.1:7000/127.0.0.1:$idp/g" -e "s/127.0.0.1:7100/127.0.0.1:$sp/g" \
    scenarios/qovery-saml.yaml >"$work/hostile.yaml"
  python3 "$work/hostile_sp.py" "$mode" "$sp" &
  sp_pid=$!
  for _ in $(seq 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $sp), 0.1)" 2>/dev/null && break
    sleep 0.1
  done
  start=$(date +%s%N)
  /usr/bin/time -f '%M' -o "$work/rss" "$BIN" --certs "$work/certs" test "$work/hostile.yaml" \
    --timeout "$BUDGET" >"$work/out" 2>&1 || true
  end=$(date +%s%N)
  kill "$sp_pid" 2>/dev/null || true
  wait "$sp_pid" 2>/dev/null || true
  sp_pid=
  secs=$(awk -v ns=$((end - start)) 'BEGIN {printf "%.1f", ns / 1e9}')
  rss=$(tail -1 "$work/rss" | awk '{printf "%.0f", $1 / 1024}')
  summary=$(grep -E '^test result' "$work/out" | sed 's/^test result: //' || true)
  kinds=$(grep -E '^    [a-z-]+ \([0-9]+\):' "$work/out" | sed -E 's/^ +([a-z-]+ \([0-9]+\)).*/\1/' | paste -sd ' ' || true)
  printf '%-8s %10s %14s  %s; %s\n' "$mode" "$secs" "$rss" "$summary" "$kinds"
  # One failure's first lines, to show what the runner said.
  grep -m1 -A6 -E '^kind: ' "$work/out" | sed 's/^/           /' || true
done
