#!/usr/bin/env python3
"""BROWSER for the real-parts tests: headless Chromium signs in as a person would.

Usage: signin_browser.py [ARGS...] URL   (the URL is the last argument, as BROWSER gives it)

Opens URL (whatever the client gives: the flow URL or a one-time start link that redirects to
it) in a fresh headless Chromium over WebDriver (chromium_browser.py's Driver) and follows the
pages like a person: on the identity provider's login form it types a user name and a password
and presses "Sign-in", on its consent page it presses "Continue", on token2go's warning page it
presses the continue button, until the page reaches .../flow/redirect/done. Certificate errors
are ignored (the gateways in the tests use self-signed certificates). Never writes to stdout.
Exit status 0 when the done page was reached, 1 otherwise.

Environment:
  SIGNIN_USER         the user name typed at the login form (default alice)
  SIGNIN_BROWSER_LOG  file to append JSON lines to: {"event": "launched"}, one {"event": "page",
                      "url": URL without query values, "action": what was done} per page acted
                      on, then {"event": "done"|"failed", ...} and a last {"event": "closed"}
  SIGNIN_FORBIDDEN    when set, the browser must not be needed: it only records "launched" and
                      exits 1 (for runs that must be served from the cache)
  SIGNIN_TIMEOUT      seconds to reach the done page (default 40)
  SIGNIN_SESSION      file that keeps one Chromium session across runs, as a person's browser
                      keeps its cookies (the gateway's session cookie lives only as long as the
                      browser does, so a second profile run would not have it): the first run
                      starts Chromium and, instead of closing it, writes where it is into this
                      file; later runs open their URL in a new tab of that session. The session
                      ends with `signin_browser.py --close FILE`.

Every page seen is recorded, whether acted on or not ({"event": "saw", "url", "state"}), and each
click on token2go's warning page is one {"event": "page", ..., "action": "confirmed"}.
"""

import json
import os
import shutil
import signal
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chromium_browser  # noqa: E402  (beside this file)

DONE_PATH = "/flow/redirect/done"

# What is on the page, found by the elements a person would see: the provider's login form, its
# consent button, token2go's warning page link.
PAGE_STATE = """
const login = document.querySelector('input[name="login"]');
if (login) return 'login';
if (document.querySelector('input[name="prompt"][value="consent"]')) return 'consent';
if (document.querySelector('a#continue')) return 'confirm';
return 'other';
"""


def log(entry):
    chromium_browser.record_to(os.environ.get("SIGNIN_BROWSER_LOG"), entry)


def element(driver, css):
    found = driver.command("POST", "element", {"using": "css selector", "value": css})
    return next(iter(found.values()))


def type_into(driver, css, text):
    driver.command("POST", f"element/{element(driver, css)}/value", {"text": text})


def click(driver, css):
    driver.command("POST", f"element/{element(driver, css)}/click", {})


def act(driver, state, user):
    """Does what a person does on this page; returns what it did, or None to wait."""
    if state == "login":
        type_into(driver, 'input[name="login"]', user)
        type_into(driver, 'input[name="password"]', "any password")
        click(driver, 'button[type="submit"]')
        return f"signed in as {user}"
    if state == "consent":
        click(driver, 'button[type="submit"]')
        return "consented"
    if state == "confirm":
        click(driver, "a#continue")
        return "confirmed"
    return None


class KeptDriver(chromium_browser.Driver):
    """A session that an earlier run left running (SIGNIN_SESSION); close() ends it for good."""

    def __init__(self, kept):
        self.port, self.session, self.dir = kept["port"], kept["session"], kept["dir"]
        self.pid = kept["pid"]

    def close(self):
        try:
            self.http("DELETE", f"/session/{self.session}")
        except (OSError, chromium_browser.BrowserError):
            pass
        # Not our child any more: it was reparented when the run that started it exited.
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while running(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        while os.path.exists(self.dir) and time.monotonic() < deadline + 10:
            shutil.rmtree(self.dir, ignore_errors=True)
            if os.path.exists(self.dir):
                time.sleep(0.1)


def running(pid):
    """Whether pid is a live process (a zombie nobody reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def open_driver(session_file):
    """The kept session in a new tab, or a new Chromium."""
    if session_file and os.path.exists(session_file):
        with open(session_file, encoding="utf-8") as kept:
            driver = KeptDriver(json.load(kept))
        # As a running browser that BROWSER hands a link: a new tab.
        handle = driver.command("POST", "window/new", {"type": "tab"})["handle"]
        driver.command("POST", "window", {"handle": handle})
        return driver, True
    return chromium_browser.Driver(extra_args=["--ignore-certificate-errors"]), False


def keep(driver, session_file):
    """Leaves a new driver's chromedriver and Chromium running for the next run."""
    kept = {"port": driver.port, "session": driver.session, "dir": driver.dir, "pid": driver.process.pid}
    with open(session_file, "w", encoding="utf-8") as out:
        json.dump(kept, out)
    driver.log.close()


def close_kept(session_file):
    """--close FILE: ends the session a run kept, if any."""
    if os.path.exists(session_file):
        with open(session_file, encoding="utf-8") as kept:
            KeptDriver(json.load(kept)).close()
        os.remove(session_file)
    return 0


def browse(url, timeout, user):
    session_file = os.environ.get("SIGNIN_SESSION")
    driver, attached = open_driver(session_file)
    ok = False
    try:
        ok = follow(driver, url, timeout, user)
        return ok
    finally:
        if session_file and ok and not attached:
            keep(driver, session_file)
        elif not attached:
            driver.close()


def follow(driver, url, timeout, user):
    driver.command("POST", "url", {"url": url})
    deadline = time.monotonic() + timeout
    last = None
    seen = None
    while True:
        current = driver.command("GET", "url")
        if urllib.parse.urlsplit(current).path.endswith(DONE_PATH):
            log({"event": "done", "url": chromium_browser.without_query_values(current)})
            return True
        if time.monotonic() > deadline:
            _, text = driver.page()
            log({"event": "failed", "url": chromium_browser.without_query_values(current), "text": text[:500]})
            return False
        state = driver.command("POST", "execute/sync", {"script": PAGE_STATE, "args": []})
        if (current, state) != seen:
            log({"event": "saw", "url": chromium_browser.without_query_values(current), "state": state})
            seen = (current, state)
        # Act once per page: a form just submitted may still show while the next one loads.
        if (current, state) != last:
            done = act(driver, state, user)
            if done:
                log({"event": "page", "url": chromium_browser.without_query_values(current), "action": done})
                last = (current, state)
        time.sleep(0.1)


def main(argv):
    # Like a browser that xdg-open starts from a terminal, outlive that terminal: kubectl run in
    # one (tests/tools/realparts_kube.rs) may end, and its terminal hang up, before this has cleaned
    # up after Chromium.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if len(argv) == 3 and argv[1] == "--close":
        return close_kept(argv[2])
    if len(argv) < 2:
        print("signin_browser: usage: signin_browser.py [ARGS...] URL", file=sys.stderr)
        return 2
    log({"event": "launched"})
    if os.environ.get("SIGNIN_FORBIDDEN"):
        print("signin_browser: a browser was launched where none may be", file=sys.stderr)
        log({"event": "closed"})
        return 1
    timeout = float(os.environ.get("SIGNIN_TIMEOUT") or 40)
    user = os.environ.get("SIGNIN_USER") or "alice"
    try:
        reached = browse(argv[-1], timeout, user)
    except (chromium_browser.BrowserError, OSError, KeyError, ValueError, StopIteration) as error:
        log({"event": "failed", "error": f"{type(error).__name__}: {error}"})
        print(f"signin_browser: {error}", file=sys.stderr)
        reached = False
    finally:
        log({"event": "closed"})
    if not reached:
        print("signin_browser: the done page was not reached", file=sys.stderr)
    return 0 if reached else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
