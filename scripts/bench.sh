#!/usr/bin/env bash
# Speed and memory of token2go-server against nginx `return 200` on the same machine, in one run,
# with wrk on loopback only. Prints one table: each figure for token2go, the same figure for
# nginx, and the ratio (token2go / nginx). Throughput rounds are repeated and the medians shown.
#
# Usage: scripts/bench.sh [BINARY]
#   BINARY: the server to measure (default: target/release/token2go-server, built here);
#   scripts/build-dist.sh builds the static release binary that is deployed.
# Environment: DURATION=10 (seconds per measured wrk run), ROUNDS=3 (medians over these),
#   COLD=3 (seconds of the burst on a freshly started server), PROFILE=1 (also runs
#   scripts/flow-profile.sh: callgrind's split of one flow request; needs valgrind).
# Every process it starts is stopped on exit; all traffic goes to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
COLD=${COLD:-3}
PROFILE=${PROFILE:-1}

for tool in wrk nginx curl python3 openssl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required (apt-get install wrk nginx curl python3 openssl)" >&2; exit 1; }
done
bin=${1:-}
if [ -z "$bin" ]; then
  cargo build --release --locked --bin token2go-server >/dev/null 2>&1
  bin=target/release/token2go-server
fi
# 1,000 connections need more descriptors than the usual soft limit of 1024, for wrk and nginx.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]+"${pids[@]}"}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]+"${pids[@]}"}"; do wait "$pid" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# {"alg":"RS256"}.{"sub":"bench","exp":4102444800}.signature: a JWT, as a gateway passes one.
token="eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiZW5jaCIsImV4cCI6NDEwMjQ0NDgwMH0.YmVuY2gtc2lnbmF0dXJl"
nginx_port=18081
next_port=18090

start_nginx() {
  cat > "$work/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 8192;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work;
  uwsgi_temp_path $work; scgi_temp_path $work;
  server { listen 127.0.0.1:$nginx_port backlog=4096; location / { return 200 "ok\n"; } }
}
CONF
  nginx -c "$work/nginx.conf"
  wait_http "http://127.0.0.1:$nginx_port/"
}

stop_nginx() {
  local pid
  pid=$(cat "$work/nginx.pid")
  kill "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  rm -f "$work/nginx.pid"
}

wait_http() {
  for _ in $(seq 100); do
    curl -fs -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench: $1 does not answer" >&2
  exit 1
}

# start_t2g NAME LOG_FORMAT: a fresh server on its own port, the access log (stdout) and the
# audit trail (stderr) each to a file, as deployed; sets t2g_pid and t2g_url.
start_t2g() {
  local port=$next_port
  next_port=$((next_port + 1))
  env -i PATH="$PATH" T2G_SERVER_HOST=127.0.0.1 T2G_SERVER_PORT=$port T2G_LOG_FORMAT="$2" \
    T2G_FALLBACK_TOKEN="$token" "$bin" >>"$work/$1.access.log" 2>>"$work/$1.stderr.log" &
  t2g_pid=$!
  pids+=("$t2g_pid")
  t2g_url="http://127.0.0.1:$port"
  wait_http "$t2g_url/health"
}

stop_t2g() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local kept=() pid
  for pid in "${pids[@]+"${pids[@]}"}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  pids=("${kept[@]+"${kept[@]}"}")
}

rss_kb() {
  local total=0 pid
  for pid in "$@"; do
    total=$((total + $(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")))
  done
  echo "$total"
}
nginx_pids() { echo "$(cat "$work/nginx.pid") $(pgrep -P "$(cat "$work/nginx.pid")" | tr '\n' ' ')"; }

# wrk_run CONNECTIONS SECONDS URL: prints "requests/s p50_ms p99_ms requests".
wrk_run() {
  wrk -t2 -c"$1" -d"$2s" --latency "$3" | awk '
    function ms(v) {
      if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0
      if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v
    }
    /^ +50%/ {p50 = ms($2)} /^ +99%/ {p99 = ms($2)}
    /requests in/ {n = $1} /^Requests\/sec/ {rps = $2}
    END {printf "%s %s %s %s\n", rps, p50, p99, n}'
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

declare -A row_t2g row_nginx
order=()
put() { order+=("$1"); row_t2g[$1]=$2; row_nginx[$1]=$3; }

echo "bench: $bin ($(stat -c %s "$bin") bytes); $ROUNDS rounds of ${DURATION}s, medians" >&2

# ---- idle RSS of fresh processes --------------------------------------------------------------
start_nginx
start_t2g idle text
sleep 1
put "idle RSS (kB)" "$(rss_kb "$t2g_pid")" "$(rss_kb $(nginx_pids))"
stop_t2g "$t2g_pid"

# ---- throughput at 50 connections ------------------------------------------------------------
start_t2g on text
on_pid=$t2g_pid on_url=$t2g_url
start_t2g off off
off_pid=$t2g_pid off_url=$t2g_url
declare -A rps
for _ in $(seq "$ROUNDS"); do
  for case in nginx on/health on/token off/health off/token; do
    case $case in
      nginx) url="http://127.0.0.1:$nginx_port/" ;;
      on/*) url="$on_url/${case#on/}" ;;
      off/*) url="$off_url/${case#off/}" ;;
    esac
    read -r r _ _ _ < <(wrk_run 50 "$DURATION" "$url")
    rps[$case]="${rps[$case]:-} $r"
  done
done
base=$(median ${rps[nginx]})
put "/token req/s, 50 conns, access log on" "$(median ${rps[on/token]})" "$base"
put "/token req/s, 50 conns, access log off" "$(median ${rps[off/token]})" "$base"
put "/health req/s, 50 conns, access log on" "$(median ${rps[on/health]})" "$base"
put "/health req/s, 50 conns, access log off" "$(median ${rps[off/health]})" "$base"
stop_t2g "$off_pid"

# ---- 1,000 keep-alive connections, warm ------------------------------------------------------
declare -A lat
for _ in $(seq "$ROUNDS"); do
  for path in token health; do
    for server in t2g nginx; do
      url="$on_url/$path"
      [ "$server" = nginx ] && url="http://127.0.0.1:$nginx_port/"
      wrk_run 1000 2 "$url" >/dev/null # warm-up
      read -r _ p50 p99 _ < <(wrk_run 1000 "$DURATION" "$url")
      lat[$server/$path/50]="${lat[$server/$path/50]:-} $p50"
      lat[$server/$path/99]="${lat[$server/$path/99]:-} $p99"
    done
  done
done
for path in token health; do
  for q in 50 99; do
    put "/$path p$q ms, 1000 conns, warm" "$(median ${lat[t2g/$path/$q]})" "$(median ${lat[nginx/$path/$q]})"
  done
done
after_t2g=$(rss_kb "$on_pid")
after_nginx=$(rss_kb $(nginx_pids))
warm_done=$(date +%s)

# ---- 1,000 connections on a freshly started server (cold) ------------------------------------
for path in token health; do
  p50s="" p99s="" np50s="" np99s=""
  for _ in $(seq "$ROUNDS"); do
    start_t2g cold text
    read -r _ p50 p99 _ < <(wrk_run 1000 "$COLD" "$t2g_url/$path")
    stop_t2g "$t2g_pid"
    p50s="$p50s $p50" p99s="$p99s $p99"
    stop_nginx
    start_nginx
    read -r _ np50 np99 _ < <(wrk_run 1000 "$COLD" "http://127.0.0.1:$nginx_port/")
    np50s="$np50s $np50" np99s="$np99s $np99"
  done
  put "/$path p50 ms, 1000 conns, cold (first ${COLD}s)" "$(median $p50s)" "$(median $np50s)"
  put "/$path p99 ms, 1000 conns, cold (first ${COLD}s)" "$(median $p99s)" "$(median $np99s)"
done

put "RSS right after the benchmark (kB)" "$after_t2g" "$after_nginx"
# Idle workers beyond the floor exit 30 s after their last connection (src/http/server.rs).
sleep $((warm_done + 35 - $(date +%s))) 2>/dev/null || true
# nginx's column: its RSS right after (the cold runs restarted it; it keeps what it has).
put "RSS 35 s after the benchmark (kB)" "$(rss_kb "$on_pid")" "$after_nginx"
stop_t2g "$on_pid"

# ---- start to first answered request ---------------------------------------------------------
t2g_start=$(python3 scripts/startup-time.py "$bin" 20 | sed -n 's/.*median \([0-9.]*\) ms.*/\1/p')
nginx_start=$(python3 scripts/startup-time.py nginx 20 | sed -n 's/.*median \([0-9.]*\) ms.*/\1/p')
put "start to first answer (ms)" "$t2g_start" "$nginx_start"

# ---- the flow: CPU per request (2048-bit key) ------------------------------------------------
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | openssl pkey -pubout >"$work/key.pem"
flow_query=$(python3 - "$work/key.pem" <<'PY'
import sys, urllib.parse
pem = open(sys.argv[1]).read()
print(urllib.parse.urlencode({
    "target": "http://127.0.0.1:9/callback", "state": "bench-state",
    "publicKeyType": "rsa2048-rfc5280-x509-pem", "publicKey": pem}))
PY
)
start_t2g flow text
curl -fs -o /dev/null -w '%{http_code}' "$t2g_url/flow/redirect/token?$flow_query" | grep -qx 303 \
  || { echo "bench: the flow request is not answered 303" >&2; exit 1; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
before=$(ticks "$t2g_pid")
read -r flow_rps _ _ flow_n < <(wrk_run 2 "$DURATION" "$t2g_url/flow/redirect/token?$flow_query")
after=$(ticks "$t2g_pid")
hz=$(getconf CLK_TCK)
flow_us=$(echo "($after - $before) * 1000000 / $hz / $flow_n" | bc -l)
stop_t2g "$t2g_pid"
put "flow request CPU (us), 2048-bit key" "$(printf '%.0f' "$flow_us")" "-"
put "flow req/s, 2 conns" "$flow_rps" "-"
stop_nginx

# ---- the table -------------------------------------------------------------------------------
printf '\n| figure | token2go | nginx | ratio |\n|---|---:|---:|---:|\n'
for key in "${order[@]}"; do
  t=${row_t2g[$key]} n=${row_nginx[$key]}
  if [ "$n" = "-" ] || [ -z "$n" ]; then ratio="-"; else ratio=$(printf '%.2f' "$(echo "$t / $n" | bc -l)"); fi
  case $key in
    *"req/s"*) t=$(printf '%.0f' "$t"); [ "$n" != "-" ] && n=$(printf '%.0f' "$n") ;;
    *" ms"*|*"(ms)"*) t=$(printf '%.2f' "$t"); n=$(printf '%.2f' "$n") ;;
  esac
  printf '| %s | %s | %s | %s |\n' "$key" "$t" "$n" "$ratio"
done
echo
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r)"
echo "binary: $bin, $(stat -c %s "$bin") bytes"
if [ "$PROFILE" = 1 ] && command -v valgrind >/dev/null; then
  echo
  scripts/flow-profile.sh "$work/key.pem"
fi
