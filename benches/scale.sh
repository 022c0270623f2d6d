#!/usr/bin/env bash
# Cost growth with the directory: a generated connection file (benches/gen_directory.py:
# deterministic, bounded) at a small and a large size, measured one after the other in the same
# run with the release binary: file bytes, `fakta check` time, `fakta serve` start-up to the
# first metadata answer, idle RSS (and bytes per user from the difference), and the server's CPU
# per IdP-initiated SAML login (utime+stime of the server process over N logins, read from
# /proc) for a user in 1 group and a user in MAX_GROUPS groups (the group filter runs over all of
# them), next to the small file's.
#
# Usage: cargo build --release && benches/scale.sh
# Environment:
#   FAKTA_BIN   the binary (default: target/release/fakta)
#   USERS N_GROUPS MAX_GROUPS APPS   the large file (default: 100000 10000 1000 100)
#   RUNS        repetitions of check and start-up (default: 5); N_LOGIN logins per user (200)
#   PORT        the port (default: 7300; must be free)
#
# Binds only 127.0.0.1. Every wait is bounded; the server is killed on exit, even on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FAKTA_BIN:-target/release/fakta}
USERS=${USERS:-100000}
N_GROUPS=${N_GROUPS:-10000}
MAX_GROUPS=${MAX_GROUPS:-1000}
APPS=${APPS:-100}
RUNS=${RUNS:-5}
N_LOGIN=${N_LOGIN:-200}
PORT=${PORT:-7300}
BASE="http://127.0.0.1:$PORT"
WORK=$(mktemp -d /tmp/fakta-scale.XXXXXX)
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
die() { echo "scale: $*" >&2; exit 1; }
[[ -x "$BIN" ]] || die "$BIN not found; run cargo build --release first"
command -v curl >/dev/null || die "curl not found"
"$BIN" --certs "$WORK/certs" keys show >/dev/null

gen() { # name users groups max_groups apps
    python3 benches/gen_directory.py "$2" "$3" "$4" "$5" |
        sed "s#base_url: http://127.0.0.1:7000#base_url: $BASE#" >"$WORK/$1.yaml"
}
gen small 5 10 5 2
gen large "$USERS" "$N_GROUPS" "$MAX_GROUPS" "$APPS"

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", (b - a) * 1000 }'; }
ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }   # utime + stime, clock ticks
HZ=$(getconf CLK_TCK)

ready() {
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/app/saml0/sso/saml/metadata")" == 200 ]]
}
start() { # file; prints ms to the first metadata 200
    local t0=$EPOCHREALTIME i
    "$BIN" --certs "$WORK/certs" serve "$WORK/$1.yaml" >"$WORK/serve.log" 2>&1 &
    PID=$!
    for ((i = 0; i < 3000; i++)); do
        ready && { ms_since "$t0"; return 0; }
        kill -0 "$PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; die "fakta serve exited"; }
        sleep 0.005
    done
    die "no metadata answer within 15 s"
}
login() { # user id: IdP-initiated SAML login through the login page
    local location token
    location=$(curl -s -o /dev/null --max-time 5 -w '%{http_code} %header{location}' "$BASE/app/saml0/saml0/sso/saml")
    [[ "$location" == "302 /login/login.htm?state="* ]] || die "SSO: $location"
    token=${location#*state=}
    curl -s -o "$WORK/login.html" --max-time 5 --data-urlencode "state=$token" \
        --data-urlencode "username=$1" "$BASE/login/login.htm"
    grep -q 'name="SAMLResponse"' "$WORK/login.html" || die "login of $1 gave no SAMLResponse"
}
cpu_per_login() { # user: server CPU microseconds per login over N_LOGIN logins
    local before after i
    login "$1"
    before=$(ticks)
    for ((i = 0; i < N_LOGIN; i++)); do login "$1"; done
    after=$(ticks)
    awk -v t=$((after - before)) -v hz="$HZ" -v n="$N_LOGIN" 'BEGIN { printf "%.0f\n", t / hz / n * 1e6 }'
}
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$PID/status"; }

echo "binary: $BIN; cores: $(nproc); raw RSA-2048 signs/s (openssl speed, 1 core):" \
    "$(openssl speed -seconds 2 rsa2048 2>/dev/null | awk '/^rsa 2048/ { print $6 }')"
printf '%-7s %9s %9s %8s %8s %9s %12s %12s %12s\n' file users bytes check_ms ready_ms rss_kb \
    login_1grp_us login_heavy_us groups_heavy
for f in small large; do
    users=$(grep -c '^    - { id: ' "$WORK/$f.yaml")
    bytes=$(stat -c %s "$WORK/$f.yaml")
    check=$(for ((r = 0; r < RUNS; r++)); do
        t0=$EPOCHREALTIME; "$BIN" --certs "$WORK/certs" check "$WORK/$f.yaml" >/dev/null; ms_since "$t0"
    done | median)
    ready_ms=$(for ((r = 0; r < RUNS; r++)); do start "$f"; stop_server; done | median)
    start "$f" >/dev/null
    sleep 0.5
    rss=$(rss_kb)
    # 00u0000001: one of the light users (1-5 groups); 00u0000000: in MAX_GROUPS groups (1 in
    # the small file's 5-group ceiling).
    light=$(cpu_per_login 00u0000001)
    heavy=$(cpu_per_login 00u0000000)
    heavy_groups=$(grep -m1 '00u0000000' "$WORK/$f.yaml" | grep -o 'G[0-9]*' | wc -l)
    stop_server
    printf '%-7s %9s %9s %8s %8s %9s %12s %12s %12s\n' "$f" "$users" "$bytes" "$check" "$ready_ms" \
        "$rss" "$light" "$heavy" "$heavy_groups"
    echo "$f $users $rss $light" >>"$WORK/rows"
done
awk 'NR == 1 { u = $2; r = $3; l = $4 } NR == 2 {
    printf "memory per user: %.0f bytes (RSS difference / user difference)\n", ($3 - r) * 1024 / ($2 - u)
    printf "login server CPU, large / small file (light user): %.2fx\n", $4 / l }' "$WORK/rows"
