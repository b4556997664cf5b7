#!/usr/bin/env bash
# Measures (1) the time from starting the demo to all three apps answering over HTTPS, with
# fresh certificates and keys (the first start) and with them kept, and (2) the web client's
# resident memory when idle. Run from the workspace root: `bash demo/scripts/measure.sh`.
# PROFILE=release measures release builds. Uses ports 5001-5003 and a scratch directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
profile=${PROFILE:-debug}
flag=$([ "$profile" = release ] && echo --release || true)
cargo build -q $flag --manifest-path "$root/Cargo.toml" -p demo -p web-client -p identity-server
bin="${CARGO_TARGET_DIR:-$root/target}/$profile"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"

ok() { curl -sf -o /dev/null --cacert certs/dev-ca.pem "$1"; }
all_ok() {
    [ -f certs/dev-ca.pem ] && ok https://localhost:5003/health \
        && ok https://localhost:5001/.well-known/openid-configuration \
        && ok https://localhost:5002/readyz
}
start_demo() {
    local start end
    start=$(date +%s%N)
    "$bin/demo" > demo.out 2> demo.err &
    local pid=$!
    until all_ok; do sleep 0.01; done
    end=$(date +%s%N)
    echo "$1: all three answering after $(( (end - start) / 1000000 )) ms"
    kill -INT "$pid"
    wait "$pid"
}
rm -rf certs data
start_demo "first start (certificates and signing key generated)"
start_demo "second start (kept)"

"$bin/identity-server" > idp.out 2>&1 &
idp=$!
"$bin/web-client" > web.out 2>&1 &
web=$!
until ok https://localhost:5002/readyz; do sleep 0.05; done
sleep 2
echo "web client idle ($profile): $(grep VmRSS /proc/$web/status | tr -s ' ')"
for _ in $(seq 1 100); do curl -s -o /dev/null --cacert certs/dev-ca.pem https://localhost:5002/; done
sleep 1
echo "web client after 100 requests ($profile): $(grep VmRSS /proc/$web/status | tr -s ' ')"
kill "$web" "$idp"
wait "$web" "$idp" 2> /dev/null || true
