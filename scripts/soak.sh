#!/usr/bin/env bash
# Soak test: builds the release binary, starts it on loopback with a fallback token (a JWT) and
# the access log to a file, and runs scripts/soak_load.py against it for MINUTES (default 10):
# a mixed load at a moderate rate (token, the flow in both response modes, the page, assets, the
# gzip-only Swagger UI bundle, slow clients, refused requests), with RSS, threads and open
# descriptors printed at the start, every minute and at the end. Fails (exit 1, with the reason)
# when any of them grows without bound or a request gets an unexpected answer.
#
# Usage: scripts/soak.sh [MINUTES]
# Not part of scripts/test.sh: it takes minutes by design. Traffic goes to 127.0.0.1 only; the
# server is stopped and its temp dir removed on every exit.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:-10}
if ! [[ "$minutes" =~ ^[0-9]+([.][0-9]+)?$ ]] || [ "$minutes" = 0 ]; then
  echo "usage: scripts/soak.sh [MINUTES]" >&2
  exit 2
fi

# {"alg":"RS256"}.{"sub":"soak","exp":4102444800}.signature: /token adds expiresAt for it.
token="eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzb2FrIiwiZXhwIjo0MTAyNDQ0ODAwfQ.c29hay1zaWduYXR1cmU"

echo "building the release binary"
cargo build --release --locked --bin token2go-server 2>&1 | tail -1

work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
# A clean environment: only the variables set here reach the server.
env -i PATH="$PATH" T2G_SERVER_HOST=127.0.0.1 T2G_SERVER_PORT="$port" \
  T2G_FALLBACK_TOKEN="$token" T2G_LOG_FORMAT=text \
  target/release/token2go-server >"$work/access.log" 2>"$work/server.err" &
pid=$!

# Up to 10 s for the first accepted connection.
for _ in $(seq 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    break
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$work/server.err" >&2
    echo "soak: the server did not start" >&2
    exit 1
  fi
  sleep 0.1
done

status=0
python3 scripts/soak_load.py --port "$port" --pid "$pid" --minutes "$minutes" --token "$token" \
  --log "$work/access.log" || status=$?

if ! kill -0 "$pid" 2>/dev/null; then
  echo "soak FAILED: the server exited during the run; its stderr:" >&2
  cat "$work/server.err" >&2
  pid=
  exit 1
fi
# Operational messages beyond the startup line (a panicked handler, accept errors) are shown.
if [ "$(wc -l <"$work/server.err")" -gt 1 ]; then
  echo "server stderr:"
  tail -n +2 "$work/server.err" | head -20
fi
exit "$status"
