#!/usr/bin/env bash
# Three identity-server replicas on one machine, sharing one Redis, behind nginx, with the
# emulator and the web client: the N-replica setup of README.md ("Running several replicas"),
# for trying it out and for watching a replica die mid-login. Ctrl-C stops everything.
#
#   cargo build --release -p identity-server -p web-client -p authsignal-emulator
#   deploy/run-replicas.sh            # then open https://localhost:5002
#
# Needs redis-server and nginx (Debian: apt-get install redis-server nginx-light). State lives
# in data/replicas/: Redis' append-only file (appendfsync always), the shared key directory
# (signing keys, CSRF key) that every replica reads, and the web client's database.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}"
for b in identity-server web-client authsignal-emulator; do
    [ -x "$bin/$b" ] || { echo "missing $bin/$b: cargo build --release -p $b (or set BIN_DIR)" >&2; exit 1; }
done
command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 1; }
command -v nginx >/dev/null || { echo "nginx is not installed" >&2; exit 1; }

state=data/replicas
mkdir -p "$state/redis" "$state/keys" data/nginx
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# Redis: unix socket only, durable (every write fsynced before it is acknowledged), never evicts.
redis-server --port 0 --unixsocket "$PWD/$state/redis/redis.sock" --unixsocketperm 700 \
    --dir "$PWD/$state/redis" --appendonly yes --appendfsync always --save '' \
    --maxmemory-policy noeviction --logfile "$PWD/$state/redis/redis.log" &
pids+=($!)
for _ in $(seq 50); do [ -S "$state/redis/redis.sock" ] && break; sleep 0.1; done

# The emulator generates certs/ on its first start when they are missing.
"$bin/authsignal-emulator" & pids+=($!)
for _ in $(seq 100); do [ -f certs/localhost.key ] && break; sleep 0.1; done

export IDP__ISSUER=https://localhost:5001
export IDP__STORE__URL="redis+unix://$PWD/$state/redis/redis.sock"
export IDP__KEYS__DIR="$PWD/$state/keys"
export IDP__TRUSTED_PROXIES='["127.0.0.1"]'
# The first replica creates the shared keys; the others start once they exist.
IDP__PORT=5011 "$bin/identity-server" & pids+=($!)
for _ in $(seq 200); do [ -f "$state/keys/keys.json" ] && [ -f "$state/keys/csrf.key" ] && break; sleep 0.1; done
IDP__PORT=5012 "$bin/identity-server" & pids+=($!)
IDP__PORT=5013 "$bin/identity-server" & pids+=($!)

nginx -p "$PWD" -c deploy/nginx-replicas.conf & pids+=($!)
WEBCLIENT__DATA_DIR="$state/web-client" "$bin/web-client" & pids+=($!)

echo "open https://localhost:5002 (identity server replicas 5011-5013 behind nginx on 5001)"
wait -n "${pids[@]}"
