#!/usr/bin/env python3
"""Measures start to first answered request: from spawning token2go-server to the first
`200` on /health, polling as fast as it can; 20 starts by default, on 127.0.0.1 only.

Usage: scripts/startup-time.py [BINARY] [RUNS]   (default: target/release/token2go-server)
"""

import os
import signal
import socket
import statistics
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_answer(binary):
    port = free_port()
    env = {"T2G_SERVER_HOST": "127.0.0.1", "T2G_SERVER_PORT": str(port), "T2G_LOG_FORMAT": "off"}
    request = b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    begun = time.perf_counter()
    server = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - begun < 5:
            conn = socket.socket()
            try:
                conn.connect(("127.0.0.1", port))
            except OSError:
                # Not listening yet. A short pause leaves the CPU to the starting server (a
                # tight loop competes with it on a small machine) and costs at most 0.1 ms.
                conn.close()
                time.sleep(0.0001)
                continue
            with conn:
                conn.sendall(request)
                if conn.recv(64).startswith(b"HTTP/1.1 200 "):
                    return time.perf_counter() - begun
        raise SystemExit("no answer within 5 s")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=5)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/token2go-server"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"{binary}: not an executable (cargo build --release first)")
    times = sorted(first_answer(binary) * 1000 for _ in range(runs))
    print(
        f"start to first answered request over {runs} starts: "
        f"min {times[0]:.2f} ms, median {statistics.median(times):.2f} ms, max {times[-1]:.2f} ms"
    )


main()
