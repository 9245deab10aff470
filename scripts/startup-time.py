#!/usr/bin/env python3
"""Measures start to first answered request: from spawning token2go-server to the first
`200` on /health, polling as fast as it can; 20 starts by default, on 127.0.0.1 only.

Usage: scripts/startup-time.py [BINARY] [RUNS]   (default: target/release/token2go-server)
       scripts/startup-time.py nginx [RUNS]     (nginx `return 200`, for comparison)
"""

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


NGINX_CONF = """daemon off; master_process off; worker_processes 1; pid {dir}/nginx.pid;
error_log {dir}/error.log; events {{ worker_connections 64; }}
http {{ access_log off; client_body_temp_path {dir}; proxy_temp_path {dir};
  fastcgi_temp_path {dir}; uwsgi_temp_path {dir}; scgi_temp_path {dir};
  server {{ listen 127.0.0.1:{port}; location / {{ return 200 "ok\\n"; }} }} }}
"""


def first_answer(binary):
    port = free_port()
    env = {"T2G_SERVER_HOST": "127.0.0.1", "T2G_SERVER_PORT": str(port), "T2G_LOG_FORMAT": "off"}
    command = [binary]
    if binary == "nginx":
        folder = tempfile.mkdtemp(prefix="t2g-startup-")
        with open(f"{folder}/nginx.conf", "w") as conf:
            conf.write(NGINX_CONF.format(dir=folder, port=port))
        command = [shutil.which("nginx") or "/usr/sbin/nginx", "-c", f"{folder}/nginx.conf"]
    request = b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    begun = time.perf_counter()
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
        if binary == "nginx":
            shutil.rmtree(folder, ignore_errors=True)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/token2go-server"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    if binary != "nginx" and not os.access(binary, os.X_OK):
        raise SystemExit(f"{binary}: not an executable (cargo build --release first)")
    times = sorted(first_answer(binary) * 1000 for _ in range(runs))
    print(
        f"start to first answered request over {runs} starts: "
        f"min {times[0]:.2f} ms, median {statistics.median(times):.2f} ms, max {times[-1]:.2f} ms"
    )


main()
