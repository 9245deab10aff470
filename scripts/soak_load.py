#!/usr/bin/env python3
"""The load and the measurements of scripts/soak.sh (which builds and starts the server).

Drives a mixed load at a moderate, fixed rate against a token2go-server on loopback for a fixed
time, samples the server's resident memory, threads and open descriptors (/proc/PID) at the
start, every minute and at the end, and judges the run:

- every request of the served kinds (token, flow redirect and form_post, page, assets, the
  gzip-only Swagger UI bundle, slow clients that dribble a head) gets its expected answer;
- every refused kind (a body, bad versions, an oversize head or request line, no Host, a head
  that never completes, TLS bytes) gets its expected status, or a reset (a close while the
  client was still sending is allowed to lose the answer);
- none of RSS, threads or descriptors grows without bound: the end value may be at most 1.5x
  the value after the first minute plus a small absolute slack.

Standard library only; every loop is bounded by the run's deadline; traffic goes to the given
loopback port only. Exit status: 0 when the run passed, 1 when it failed.
Usage: soak_load.py --port P --pid PID --minutes M --token JWT [--log FILE]
"""

import argparse
import gzip
import http.client
import json
import os
import random
import socket
import threading
import time
import urllib.parse

HOST = "127.0.0.1"
# The fixed test key (src/test_keys.rs FIXED_2048): the flow only needs a valid public key.
_KEY_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "support",
                         "public-key-rsa2048.pem")
with open(_KEY_FILE) as key_file:
    PUBLIC_KEY = key_file.read()
# The flow's callback: never contacted (redirects are not followed), loopback all the same.
TARGET = "http://127.0.0.1:9/cb"
# Growth allowed from the first minute to the end: factor, and slack per measure.
GROWTH = 1.5
SLACK = {"rss_kb": 2048, "threads": 4, "fds": 8}
# Requests per second of each served-load worker, and how many workers.
FAST_WORKERS = 4
FAST_RATE = 40
TIMEOUT = 10


class Failure(Exception):
    pass


class Tally:
    """Counts per kind, shared by the workers."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ok = {}
        self.errors = {}
        self.resets = {}
        self.examples = []

    def count(self, table, kind):
        with self.lock:
            table[kind] = table.get(kind, 0) + 1

    def error(self, kind, detail):
        with self.lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1
            if len(self.examples) < 10:
                self.examples.append(f"{kind}: {detail}")

    def total(self):
        with self.lock:
            return sum(self.ok.values()), sum(self.errors.values()), sum(self.resets.values())


def flow_path(mode=None):
    params = {
        "target": TARGET,
        "state": "soak state & more",
        "publicKeyType": "rsa2048-rfc5280-x509-pem",
        "publicKey": PUBLIC_KEY,
    }
    if mode:
        params["responseMode"] = mode
    return "/flow/redirect/token?" + urllib.parse.urlencode(params)


def expect(cond, what):
    if not cond:
        raise Failure(what)


# ----- served kinds: (name, method, path, headers, check(response, body)) ---------------------


def check_token(token):
    def check(resp, body):
        expect(resp.status == 200, f"status {resp.status}")
        doc = json.loads(body)
        expect(doc.get("secret") == token, "secret is not the fallback token")
        expect("expiresAt" in doc and "fingerprint" in doc, f"fields {sorted(doc)}")

    return check


def check_redirect(resp, body):
    expect(resp.status == 303, f"status {resp.status}")
    location = resp.getheader("Location") or ""
    expect(location.startswith(TARGET + "?key="), f"Location {location[:60]!r}")
    expect("&state=soak%20state%20%26%20more" in location, "state not returned unchanged")


def check_form_post(resp, body):
    expect(resp.status == 200, f"status {resp.status}")
    expect(b'name="payload"' in body and b'name="state"' in body, "form fields missing")


def check_ok(content_type):
    def check(resp, body):
        expect(resp.status == 200, f"status {resp.status}")
        expect((resp.getheader("Content-Type") or "").startswith(content_type),
               f"Content-Type {resp.getheader('Content-Type')}")
        expect(len(body) > 0, "empty body")

    return check


def check_bundle(resp, body):
    expect(resp.status == 200, f"status {resp.status}")
    expect(resp.getheader("Content-Encoding") == "gzip", "not gzip-encoded")
    expect(len(gzip.decompress(body)) > len(body), "bundle does not decompress")


def served_kinds(token):
    return [
        # (weight, kind, path, extra headers, check)
        (8, "token", "/token", {}, check_token(token)),
        (3, "flow_redirect", flow_path(), {}, check_redirect),
        (2, "flow_form_post", flow_path("form_post"), {}, check_form_post),
        (3, "page", "/", {}, check_ok("text/html")),
        (2, "asset_css", "/static/page.css", {}, check_ok("text/css")),
        (2, "asset_js", "/static/page.js", {}, check_ok("text/javascript")),
        (2, "asset_icon", "/favicon.ico", {}, check_ok("image/")),
        (1, "swagger_yaml", "/swagger.yaml", {}, check_ok("")),
        (1, "swagger_bundle", "/swagger-ui/swagger-ui-bundle.js",
         {"Accept-Encoding": "gzip"}, check_bundle),
        (2, "health", "/health", {}, check_ok("application/json")),
        (1, "metrics", "/metrics", {}, check_ok("text/plain")),
    ]


def served_worker(port, token, deadline, tally, seed):
    """Keep-alive requests of the served kinds at FAST_RATE; a fresh connection every so often
    so connections (and the server's threads for them) come and go."""
    rng = random.Random(seed)
    kinds = served_kinds(token)
    weighted = [k for k in kinds for _ in range(k[0])]
    conn = None
    n = 0
    next_at = time.monotonic()
    while time.monotonic() < deadline:
        _, kind, path, headers, check = rng.choice(weighted)
        if conn is None or n % 50 == 0:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT)
        n += 1
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            check(resp, body)
            tally.count(tally.ok, kind)
        except Exception as e:  # every failure of a served kind counts, whatever it is
            tally.error(kind, f"{type(e).__name__}: {e}")
            conn.close()
            conn = None
        next_at += 1 / FAST_RATE
        time.sleep(max(0, min(next_at - time.monotonic(), deadline - time.monotonic())))
    if conn is not None:
        conn.close()


# ----- raw-socket kinds: slow clients and refusals ----------------------------------------------


def read_status(sock):
    """The status code of the first response on `sock`, or None when the connection closed or
    was reset before a status line came."""
    data = b""
    try:
        while b"\r\n" not in data and len(data) < 4096:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    line = data.split(b"\r\n", 1)[0].split()
    if len(line) >= 2 and line[0] == b"HTTP/1.1" and line[1].isdigit():
        return int(line[1])
    return None


def drain(sock):
    """Reads the rest of a Connection: close response, bounded by the socket timeout."""
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass


def slow_worker(port, deadline, tally, seed):
    """A client that dribbles a valid head over about two seconds (the server allows five),
    and every tenth time one that stops sending and must get 408."""
    rng = random.Random(seed)
    head = (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: soak-slow\r\n"
            b"Connection: close\r\n\r\n")
    n = 0
    while time.monotonic() + 8 < deadline:
        n += 1
        stall = n % 10 == 0
        kind = "slow_timeout_408" if stall else "slow_head"
        try:
            with socket.create_connection((HOST, port), timeout=TIMEOUT) as sock:
                part = head[:20] if stall else head
                for i in range(0, len(part), 4):
                    sock.sendall(part[i : i + 4])
                    time.sleep(2 / (len(head) / 4))
                status = read_status(sock)
                drain(sock)
            want = 408 if stall else 200
            if status == want:
                tally.count(tally.ok, kind)
            else:
                tally.error(kind, f"status {status}, expected {want}")
        except Exception as e:
            tally.error(kind, f"{type(e).__name__}: {e}")
        time.sleep(rng.uniform(0, 0.5))


def refused_kinds():
    big_header = b"X-Big: " + b"a" * (70 * 1024) + b"\r\n"
    return [
        ("refused_body_413",
         b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 413),
        ("refused_chunked_413",
         b"GET /token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 413),
        ("refused_http2_505", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        ("refused_http12_505", b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505),
        ("refused_line_414", b"GET /" + b"a" * (17 * 1024) + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        ("refused_head_431", b"GET / HTTP/1.1\r\nHost: x\r\n" + big_header + b"\r\n", 431),
        ("refused_nohost_400", b"GET / HTTP/1.1\r\n\r\n", 400),
        ("refused_tls_400", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 32, 400),
    ]


def refused_worker(port, deadline, tally, seed, rate=8):
    rng = random.Random(seed)
    kinds = refused_kinds()
    next_at = time.monotonic()
    while time.monotonic() < deadline:
        kind, data, want = rng.choice(kinds)
        try:
            with socket.create_connection((HOST, port), timeout=TIMEOUT) as sock:
                try:
                    sock.sendall(data)
                except (ConnectionResetError, BrokenPipeError):
                    pass  # the server answered and closed while we were still sending
                status = read_status(sock)
                drain(sock)
            if status is None:
                tally.count(tally.resets, kind)
            elif status == want:
                tally.count(tally.ok, kind)
            else:
                tally.error(kind, f"status {status}, expected {want}")
        except Exception as e:
            tally.error(kind, f"{type(e).__name__}: {e}")
        next_at += 1 / rate
        time.sleep(max(0, min(next_at - time.monotonic(), deadline - time.monotonic())))


# ----- measurements ----------------------------------------------------------------------------


def sample(pid):
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return {
        "rss_kb": int(fields["VmRSS"].split()[0]),
        "threads": int(fields["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


def show(label, elapsed, values, tally):
    ok, errors, resets = tally.total()
    print(
        f"{label:<14} {elapsed:7.0f}s  rss {values['rss_kb']:>7} kB  threads {values['threads']:>4}"
        f"  fds {values['fds']:>5}  answered {ok:>8}  errors {errors:>4}  resets {resets:>4}",
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--log", help="the server's access log, for its line count")
    args = parser.parse_args()

    tally = Tally()
    start = time.monotonic()
    deadline = start + args.minutes * 60
    workers = [
        threading.Thread(target=served_worker, args=(args.port, args.token, deadline, tally, i))
        for i in range(FAST_WORKERS)
    ]
    workers += [
        threading.Thread(target=slow_worker, args=(args.port, deadline, tally, 100 + i))
        for i in range(2)
    ]
    workers.append(threading.Thread(target=refused_worker, args=(args.port, deadline, tally, 200)))
    rate = FAST_WORKERS * FAST_RATE
    print(f"soak: {args.minutes:g} min against 127.0.0.1:{args.port} (pid {args.pid}), about "
          f"{rate} served req/s on {FAST_WORKERS} keep-alive clients, 2 slow clients, "
          "8 refused req/s")
    first = sample(args.pid)
    show("start", 0, first, tally)
    for w in workers:
        w.daemon = True
        w.start()

    # A sample at every minute; the end one a second before the load stops, so that it is
    # taken under the same load as the others.
    samples = []
    minute = 1
    last = deadline - 1
    while start + 60 * minute < last:
        time.sleep(max(0, start + 60 * minute - time.monotonic()))
        samples.append(sample(args.pid))
        show(f"minute {minute}", time.monotonic() - start, samples[-1], tally)
        minute += 1
    time.sleep(max(0, last - time.monotonic()))
    end = sample(args.pid)
    show("end", time.monotonic() - start, end, tally)
    for w in workers:
        w.join(timeout=TIMEOUT + 10)
    time.sleep(6)  # past the idle timeout: the server closes what keep-alive left open
    settled = sample(args.pid)
    show("settled (+6s)", time.monotonic() - start, settled, tally)

    failed = []
    if samples:
        # Against the first minute, not the start: warming up (worker threads, buffers) is not
        # growth.
        base = samples[0]
        for key, slack in SLACK.items():
            limit = GROWTH * base[key] + slack
            if end[key] > limit:
                failed.append(
                    f"{key} grew from {base[key]} (first minute) to {end[key]} (limit {limit:.0f})"
                )
    else:
        print("growth not judged: the run ended before its first minute")

    print("\nper kind: answered as expected / errors / resets")
    kinds = sorted(set(tally.ok) | set(tally.errors) | set(tally.resets))
    for kind in kinds:
        print(f"  {kind:<20} {tally.ok.get(kind, 0):>8} {tally.errors.get(kind, 0):>6} "
              f"{tally.resets.get(kind, 0):>6}")
    ok, errors, resets = tally.total()
    elapsed = time.monotonic() - start
    print(f"total: {ok} answered as expected ({ok / elapsed:.0f}/s), {errors} errors, "
          f"{resets} refused requests reset before their answer")
    if args.log and os.path.exists(args.log):
        with open(args.log, "rb") as f:
            lines = sum(1 for _ in f)
        size = os.path.getsize(args.log) // 1024
        print(f"access log: {lines} lines ({size} kB) for {ok + errors + resets} requests sent")
    for example in tally.examples:
        print(f"  error: {example}")
    if errors:
        failed.append(f"{errors} requests got an unexpected answer")
    for kind in ("token", "flow_redirect", "flow_form_post", "slow_head"):
        if not tally.ok.get(kind):
            failed.append(f"no {kind} request was answered")

    if failed:
        for reason in failed:
            print(f"soak FAILED: {reason}")
        return 1
    print("soak passed: every request answered as expected; RSS, threads and descriptors bounded")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
