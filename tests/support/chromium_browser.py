#!/usr/bin/env python3
"""A real browser for BROWSER in the gateway tests: headless Chromium, driven over WebDriver.

Usage: chromium_browser.py [ARGS...] URL   (the URL is the last argument, as BROWSER gives it)

Starts chromedriver on a free loopback port and one headless Chromium session with a fresh
profile, opens URL, and waits until the page reaches .../flow/redirect/done (the form_post page
submits itself, the client answers with a 303 there). Then it deletes the session, stops
chromedriver and removes its temporary directory, and only then writes its last log record, so a
test that waits for that record knows nothing of the browser is left.

Standard library only. Never writes to stdout (it inherits the client's, which carries only the
result). Exit status 0 when the done page was reached, 1 otherwise.

Environment:
  CHROMIUM_BROWSER_LOG      file to append JSON lines to: {"event": "started", "dir": its temp
                            dir}, {"event": "opened"|"done"|"failed", "url": the page's URL
                            without query values, "text": its visible text}, and a last
                            {"event": "closed"}
  CHROMIUM_BROWSER_TIMEOUT  seconds to wait for the done page (default 30)
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

DONE_PATH = "/flow/redirect/done"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    # Loopback bypasses the proxy; anything else goes to a closed loopback port, so nothing can
    # leave the machine even if Chromium tried.
    "--proxy-server=http://127.0.0.1:9",
    "--lang=en-US",
    "--disable-crash-reporter",
]


class BrowserError(Exception):
    pass


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def without_query_values(url):
    parts = urllib.parse.urlsplit(url)
    names = [part.partition("=")[0] for part in parts.query.split("&") if part]
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(f"{n}=" for n in names), ""))


class Driver:
    """chromedriver and one session; close() leaves nothing running and nothing on disk."""

    def __init__(self, extra_args=()):
        chromedriver = shutil.which("chromedriver")
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if not chromedriver or not chromium:
            raise BrowserError("chromium and chromedriver must be on PATH (scripts/test.sh installs them)")
        # Short: Chromium puts its singleton socket under TMPDIR, and a unix socket's path may
        # not exceed 107 bytes.
        self.dir = tempfile.mkdtemp(prefix="t2g-cr-")
        self.port = free_port()
        self.session = None
        self.log = open(os.path.join(self.dir, "chromedriver.log"), "wb")
        environment = dict(os.environ, TMPDIR=self.dir)
        self.process = subprocess.Popen(
            [chromedriver, f"--port={self.port}"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, env=environment,
        )
        try:
            self._wait_until_ready()
            capabilities = {"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium,
                    "args": CHROMIUM_ARGS + list(extra_args) + [f"--user-data-dir={os.path.join(self.dir, 'profile')}"],
                },
            }}}
            try:
                self.session = self.http("POST", "/session", capabilities)["value"]["sessionId"]
            except BrowserError as error:
                raise BrowserError(f"{error} (chromedriver: {self.log_tail()})") from None
            self.command("POST", "timeouts", {"pageLoad": 20000, "script": 10000, "implicit": 0})
        except BaseException:
            self.close()
            raise

    def _wait_until_ready(self):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrowserError(f"chromedriver exited with {self.process.returncode}")
            try:
                if self.http("GET", "/status")["value"]["ready"]:
                    return
            except (OSError, BrowserError, KeyError):
                pass
            time.sleep(0.05)
        raise BrowserError("chromedriver did not become ready within 15 s")

    def log_tail(self):
        self.log.flush()
        with open(self.log.name, "rb") as log:
            lines = log.read().decode("utf-8", "replace").splitlines()
        return " | ".join(lines[-5:])

    def http(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        # No proxy from the environment for chromedriver on loopback.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=60) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")
            try:
                message = json.loads(detail)["value"]["message"].splitlines()[0]
            except (ValueError, KeyError, IndexError, AttributeError):
                message = detail[:200]
            raise BrowserError(f"{method} {path}: {error.code} {message}") from None

    def command(self, method, path, body=None):
        if body is None and method == "POST":
            body = {}
        return self.http(method, f"/session/{self.session}/{path}", body)["value"]

    def page(self):
        url = self.command("GET", "url")
        text = self.command("POST", "execute/sync", {
            "script": "return document.body ? document.body.innerText : '';", "args": []})
        return url, text

    def close(self):
        if self.session is not None:
            try:
                self.http("DELETE", f"/session/{self.session}")
            except (OSError, BrowserError):
                pass
            self.session = None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        # Chromium's last helper processes may still be writing into the profile for a moment.
        deadline = time.monotonic() + 10
        while os.path.exists(self.dir) and time.monotonic() < deadline:
            shutil.rmtree(self.dir, ignore_errors=True)
            if os.path.exists(self.dir):
                time.sleep(0.1)


def record(entry):
    record_to(os.environ.get("CHROMIUM_BROWSER_LOG"), entry)


def record_to(path, entry):
    """Appends entry as a JSON line to the file at path, if any."""
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")


def browse(url, timeout):
    """Opens url; returns True once the done page shows."""
    driver = Driver()
    record({"event": "started", "dir": driver.dir})
    try:
        driver.command("POST", "url", {"url": url})
        current, text = driver.page()
        record({"event": "opened", "url": without_query_values(current), "text": text})
        deadline = time.monotonic() + timeout
        while True:
            current, text = driver.page()
            if urllib.parse.urlsplit(current).path.endswith(DONE_PATH):
                record({"event": "done", "url": without_query_values(current), "text": text})
                return True
            if time.monotonic() > deadline:
                record({"event": "failed", "url": without_query_values(current), "text": text})
                return False
            time.sleep(0.1)
    finally:
        driver.close()


def main(argv):
    if len(argv) < 2:
        print("chromium_browser: usage: chromium_browser.py [ARGS...] URL", file=sys.stderr)
        return 2
    timeout = float(os.environ.get("CHROMIUM_BROWSER_TIMEOUT") or 30)
    try:
        reached = browse(argv[-1], timeout)
    except (BrowserError, OSError, KeyError, ValueError) as error:
        record({"event": "failed", "error": f"{type(error).__name__}: {error}"})
        print(f"chromium_browser: {error}", file=sys.stderr)
        reached = False
    finally:
        record({"event": "closed"})
    if not reached:
        print("chromium_browser: the done page was not reached", file=sys.stderr)
    return 0 if reached else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
