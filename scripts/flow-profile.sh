#!/usr/bin/env bash
# Where the CPU of one flow request goes: runs the release build (with symbols) under
# valgrind's callgrind, sends flow requests with a 2048-bit key on one keep-alive connection,
# and prints the instructions per request split by part, from callgrind's inclusive counts
# (instructions are repeatable where wall-clock time on a shared machine is not).
# Usage: scripts/flow-profile.sh [PUBLIC_KEY_PEM]   (env: REQUESTS=20)
# Only 127.0.0.1 is contacted; the server is stopped and its temp dir removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-20}
for tool in valgrind callgrind_annotate python3 openssl; do
  command -v "$tool" >/dev/null || { echo "flow-profile: $tool is required (apt-get install valgrind python3 openssl)" >&2; exit 1; }
done
# The release profile with symbols (and no other difference), in its own target dir.
CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
  cargo build --release --locked --bin token2go-server --target-dir target/profile >/dev/null 2>&1
bin=target/profile/release/token2go-server

work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
key=${1:-}
if [ -z "$key" ]; then
  key=$work/key.pem
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | openssl pkey -pubout >"$key"
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token="eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiZW5jaCIsImV4cCI6NDEwMjQ0NDgwMH0.YmVuY2gtc2lnbmF0dXJl"
# Only the worker threads are counted: what one request costs, not the start.
env -i PATH="$PATH" T2G_SERVER_HOST=127.0.0.1 T2G_SERVER_PORT="$port" T2G_LOG_FORMAT=text \
  T2G_FALLBACK_TOKEN="$token" \
  valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" --collect-atstart=no \
  '--toggle-collect=*Server::start::*' "$bin" >"$work/access.log" 2>"$work/server.err" &
pid=$!
python3 - "$port" "$key" "$REQUESTS" <<'PY'
import socket, sys, time, urllib.parse
port, key, n = int(sys.argv[1]), open(sys.argv[2]).read(), int(sys.argv[3])
query = urllib.parse.urlencode({
    "target": "http://127.0.0.1:9/callback", "state": "profile-state",
    "publicKeyType": "rsa2048-rfc5280-x509-pem", "publicKey": key})
request = f"GET /flow/redirect/token?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
deadline = time.time() + 60
while True:
    try:
        conn = socket.create_connection(("127.0.0.1", port), timeout=30)
        break
    except OSError:
        if time.time() > deadline:
            sys.exit("flow-profile: the server did not start")
        time.sleep(0.2)
for _ in range(n):
    conn.sendall(request)
    reply = b""
    while b"\r\n\r\n" not in reply:
        reply += conn.recv(65536)
    head, _, body = reply.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 303 "):
        sys.exit(f"flow-profile: unexpected answer {head[:60]!r}")
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    while len(body) < length:
        body += conn.recv(65536)
conn.close()
PY
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=
callgrind_annotate --inclusive=yes --threshold=100 "$work/callgrind.out" >"$work/annotate.txt" 2>/dev/null
python3 - "$work/annotate.txt" "$REQUESTS" <<'PY'
import re, sys
n = int(sys.argv[2])
total, costs = None, []
for line in open(sys.argv[1]).read().splitlines():
    m = re.match(r"\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*)$", line)
    if not m or "=>" in line:
        continue
    value, name = int(m.group(1).replace(",", "")), m.group(2)
    if "PROGRAM TOTALS" in name:
        total = value
    else:
        costs.append((value, name))
if not total:
    sys.exit("flow-profile: no totals in callgrind's output")

def inclusive(pattern):
    """The largest inclusive count of an entry matching `pattern` (`file:function`; with
    inlining, one function may be listed under several files: the largest is the whole)."""
    return max((v for v, name in costs if re.search(pattern, name)), default=0)

seal = inclusive(r":token2go::flow::crypto::seal( |$)")
key = inclusive(r":token2go::flow::pubkey::parse_public_key( |$)")
code = inclusive(r":token2go::flow::pubkey::verification_code( |$)")
rsa_math = sum(inclusive(p) for p in [
    r":crypto_bigint::modular::boxed_monty_form::mul::BoxedMontyMultiplier::mul_amm_assign( |$)",
    r":crypto_bigint::modular::boxed_monty_form::mul::montgomery_mul( |$)",
    r":crypto_bigint::modular::boxed_monty_form::BoxedMontyForm::new( |$)"])
mgf = inclusive(r":rsa::algorithms::mgf::mgf1_xor_digest( |$)")
ours = total - seal - key - code
rows = [
    ("RSA-OAEP, AES-256-GCM, random numbers (crypto::seal: rsa, crypto-bigint, aes-gcm, getrandom)", seal),
    ("  of which the RSA public operation (crypto-bigint Montgomery multiplication)", rsa_math),
    ("  of which OAEP's MGF1 (SHA-256)", mgf),
    ("PEM, DER and the RSA key's setup (pubkey::parse_public_key: pem-rfc7468, base64ct, der, rsa)", key),
    ("verification code (SHA-256 of the key, base32)", code),
    ("ours: everything else", ours),
    ("  query decoding (percent-decoding the PEM key)", inclusive(r":token2go::flow::query::percent_decode( |$)")),
    ("  request head (scan, httparse, checks)", inclusive(r"src/http/request_head\.rs:")),
    ("  base64 of key, nonce, payload (base64 crate)", inclusive(r":token2go::flow::crypto::redirect_params( |$)")),
    ("  percent-encoding into Location", inclusive(r":token2go::flow::redirect_target::with_params( |$)")),
    ("  token document (JSON, fingerprint)", inclusive(r":token2go::server::token::TokenInfo::with( |$)")),
    ("  response writing", inclusive(r":token2go::http::response_write::write_response( |$)")),
    ("  access log and audit line", inclusive(r":token2go::log::access( |$)") + inclusive(r":token2go::server::audit::Audit::write( |$)")),
]
print(f"flow request, 2048-bit key: {total / n:,.0f} instructions per request "
      f"(callgrind, {n} requests on one connection, worker threads only)")
print("| part | instructions/request | share |\n|---|---:|---:|")
for label, value in rows:
    print(f"| {label} | {value / n:,.0f} | {100 * value / total:.1f} % |")
print(f"ours: {100 * ours / total:.1f} % of the request")
PY
