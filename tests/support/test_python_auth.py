#!/usr/bin/env python3
"""Checks token2go_client.Token2goAuth on a requests session, end to end.

Usage: test_python_auth.py SERVER_URL   (or T2G_TEST_SERVER_URL in the environment)

SERVER_URL is a running token2go server on loopback that serves a JWT whose exp is more than two
minutes away (T2G_FALLBACK_TOKEN, or STANDIN_TOKEN for the stand-in browser to send). A small
local HTTP server records the Authorization header of each request the session makes:
- a pre-seeded cache entry is used without opening a browser;
- an entry about to expire is replaced through the flow, with the stand-in browser in BROWSER;
- a token held in memory is fetched again once it comes within 60 s of its expiry.
Installs requests with pip when it is missing. Prints one line per check and
`N passed, N failed` last; exit status 0 when nothing failed.
"""

import datetime
import http.server
import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SUPPORT = Path(__file__).resolve().parent
sys.path.insert(0, str(SUPPORT.parent.parent / "scripts"))

import token2go_client  # noqa: E402 - found through the path set above
from checks import Checks  # noqa: E402 - beside this file (sys.path[0])

STANDIN = SUPPORT / "standin_browser.py"
SEEDED_SECRET = "seeded-secret-not-a-token"
STALE_SECRET = "stale-secret-not-a-token"
# Never contacted: a seeded entry answers for it, or the check fails when the browser fails.
UNREACHABLE_SERVER = "http://127.0.0.1:9/never-contacted"


def ensure_requests():
    try:
        return importlib.import_module("requests")
    except ImportError:
        pass
    for extra in ([], ["--break-system-packages"]):
        command = [sys.executable, "-m", "pip", "install", "-q", "requests", *extra]
        if subprocess.run(command, check=False).returncode == 0:
            break
    importlib.invalidate_caches()
    return importlib.import_module("requests")


class Recorder(http.server.ThreadingHTTPServer):
    """Answers 200 to anything and remembers each request's Authorization header."""

    daemon_threads = True

    def __init__(self):
        self.authorizations = []
        super().__init__(("127.0.0.1", 0), RecorderHandler)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/api"


class RecorderHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.authorizations.append(self.headers.get("Authorization"))
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, format, *args):
        """Quiet: the test prints its own lines."""


def seed_cache(server, secret, expires_in):
    expires_at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=expires_in)
    token = {"timestamp": "2024-01-01T00:00:00Z", "fingerprint": "0" * 64, "secret": secret,
             "expiresAt": expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    token2go_client.write_cache(server, token)


def failing_browser(directory):
    """A BROWSER command that leaves a mark and fails, so a check can tell it never ran."""
    path = Path(directory) / "failing-browser"
    path.write_text('#!/bin/sh\ntouch "$(dirname "$0")/browser-was-opened"\nexit 1\n')
    path.chmod(0o700)
    return path, Path(directory) / "browser-was-opened"


def flows_in(log_path):
    """How many flows the stand-in browser ran, from its log."""
    if not log_path.exists():
        return 0
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    return sum(1 for record in records if "/flow/redirect/token" in record.get("url", ""))


def server_token(requests, server):
    headers = {}
    if os.environ.get("STANDIN_TOKEN"):
        headers[os.environ.get("STANDIN_HEADER_NAME") or "X-Forwarded-Access-Token"] = os.environ["STANDIN_TOKEN"]
    return requests.get(f"{server}/token", headers=headers, timeout=10).json()


def main(argv):
    server_arg = argv[1] if len(argv) > 1 else os.environ.get("T2G_TEST_SERVER_URL")
    if not server_arg:
        print("usage: test_python_auth.py SERVER_URL (or set T2G_TEST_SERVER_URL)", file=sys.stderr)
        return 2
    server = token2go_client.normalize_server_url(server_arg)
    requests = ensure_requests()
    checks = Checks()
    recorder = Recorder()
    threading.Thread(target=recorder.serve_forever, daemon=True).start()

    def get_with(auth):
        """The status of one request through a session with `auth`, or the client's error."""
        session = requests.Session()
        session.trust_env = False  # no proxy or .netrc from the environment for a loopback test
        session.auth = auth
        try:
            return session.get(recorder.url, timeout=60).status_code
        except token2go_client.Token2goError as error:
            return f"Token2goError: {error}"

    expected = server_token(requests, server)
    expires_at_text = expected.get("expiresAt", "1970-01-01T00:00:00Z")
    expires_at = datetime.datetime.fromisoformat(expires_at_text.replace("Z", "+00:00"))
    checks.check("the server serves a JWT expiring in more than two minutes",
                 (expires_at - datetime.datetime.now(datetime.timezone.utc)).total_seconds() > 120,
                 f"expiresAt={expected.get('expiresAt')!r}")
    server_bearer = "Bearer " + expected["secret"]

    with tempfile.TemporaryDirectory(prefix="t2g-auth-") as temp:
        os.environ["XDG_CACHE_HOME"] = os.path.join(temp, "cache")
        browser, browser_mark = failing_browser(temp)
        os.environ["BROWSER"] = str(browser)
        for name in ("DISPLAY", "WAYLAND_DISPLAY", "SSH_CONNECTION", "STANDIN_TAMPER_STATE", "STANDIN_HOST_HEADER",
                     "STANDIN_EXTRA_PATHS"):
            os.environ.pop(name, None)

        seed_cache(UNREACHABLE_SERVER, SEEDED_SECRET, expires_in=3600)
        auth = token2go_client.Token2goAuth(UNREACHABLE_SERVER, timeout=5)
        first, second = get_with(auth), get_with(auth)
        checks.check("a seeded cache entry authorizes requests",
                     first == second == 200 and recorder.authorizations[-2:] == [f"Bearer {SEEDED_SECRET}"] * 2,
                     f"{first}, {second}, {recorder.authorizations[-2:]}")
        checks.check("no browser was opened for a cache hit", not browser_mark.exists())
        checks.check("bearer() reads the same entry",
                     token2go_client.bearer(UNREACHABLE_SERVER) == f"Bearer {SEEDED_SECRET}")

        log = Path(temp) / "standin.jsonl"
        os.environ["BROWSER"] = str(STANDIN)
        os.environ["STANDIN_LOG"] = str(log)
        seed_cache(server, STALE_SECRET, expires_in=30)
        auth = token2go_client.Token2goAuth(server + "/", timeout=30)
        first, second = get_with(auth), get_with(auth)
        checks.check("an entry within 60 s of expiry is replaced through the flow",
                     first == 200 and recorder.authorizations[-2] == server_bearer,
                     f"{first}, {recorder.authorizations[-2:]}")
        checks.check("the new token is reused from memory, one flow only",
                     second == 200 and recorder.authorizations[-1] == server_bearer and flows_in(log) == 1,
                     f"{second}, flows={flows_in(log)}")
        cached = token2go_client.read_cache(server)
        checks.check("the cache entry now holds the server's token",
                     cached is not None and cached["secret"] == expected["secret"])

        seed_cache(server, STALE_SECRET, expires_in=63)
        # The second flow within 30 s of the first: min_interval=0 lifts the once-per-30-s limit.
        auth = token2go_client.Token2goAuth(server, timeout=30, min_interval=0)
        first = get_with(auth)
        before = recorder.authorizations[-1]
        time.sleep(4)
        second = get_with(auth)
        checks.check("a token held in memory is fetched again within 60 s of its expiry",
                     first == second == 200 and before == f"Bearer {STALE_SECRET}"
                     and recorder.authorizations[-1] == server_bearer and flows_in(log) == 2,
                     f"{first}, {second}, before={before!r}, after={recorder.authorizations[-1]!r}, "
                     f"flows={flows_in(log)}")

        checks.check("the stand-in browser ran and never received the token",
                     log.exists() and expected["secret"] not in log.read_text())

    recorder.shutdown()
    recorder.server_close()
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 0 if checks.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
