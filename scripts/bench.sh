#!/usr/bin/env bash
# Throughput of token2go-server against nginx `return 200` on the same machine, in one run, with
# wrk on loopback. Prints requests/s for each and the ratios. Bounded: each wrk run lasts
# $DURATION seconds. Usage: scripts/bench.sh   (env: DURATION=10 CONNECTIONS=64 THREADS=2)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}

for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required (apt-get install wrk nginx)" >&2; exit 1; }
done
cargo build --release --locked --bin token2go-server >/dev/null

work=$(mktemp -d)
cleanup() {
  [ -n "${t2g_pid:-}" ] && kill "$t2g_pid" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

nginx_port=18081
t2g_port=18080
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work;
  uwsgi_temp_path $work; scgi_temp_path $work;
  server { listen 127.0.0.1:$nginx_port; location / { return 200 "ok\n"; } }
}
CONF
nginx -c "$work/nginx.conf"

T2G_SERVER_HOST=127.0.0.1 T2G_SERVER_PORT=$t2g_port T2G_LOG_FORMAT=off \
  T2G_FALLBACK_TOKEN=bench-token target/release/token2go-server >/dev/null 2>&1 &
t2g_pid=$!
for _ in $(seq 50); do
  curl -fs "http://127.0.0.1:$t2g_port/health" >/dev/null 2>&1 && break || sleep 0.1
done

rps() { wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "$1" | awk '/Requests\/sec/ {print $2}'; }
base=$(rps "http://127.0.0.1:$nginx_port/")
health=$(rps "http://127.0.0.1:$t2g_port/health")
token=$(rps "http://127.0.0.1:$t2g_port/token")
printf 'nginx return 200   %12.0f req/s\n' "$base"
printf 'token2go /health   %12.0f req/s  (%.2f x nginx)\n' "$health" "$(echo "$health / $base" | bc -l)"
printf 'token2go /token    %12.0f req/s  (%.2f x nginx)\n' "$token" "$(echo "$token / $base" | bc -l)"
ls -l target/release/token2go-server | awk '{printf "release binary     %12d bytes\n", $5}'
