#!/usr/bin/env python3
"""Checks token2go_client as a notebook uses it: the library API in a (fake) Jupyter kernel.

Usage: test_python_client.py SERVER_URL   (or T2G_TEST_SERVER_URL in the environment)

SERVER_URL is a running token2go server on loopback; the stand-in browser sends STANDIN_TOKEN,
a JWT whose exp is more than two minutes away. A fake IPython package (a kernel shell and
IPython.display recording what it is given) stands in for Jupyter, whether or not IPython is
installed. Checks:
- __all__ names the library API, and token() returns the secret as a str;
- in Jupyter the link is shown as a clickable HTML link, and it is the start link on the
  client's listener, not the flow URL;
- a cache hit opens no browser and shows nothing; refresh=True runs the flow again;
- a launch record that failed just now stops the next sign-in (min_interval), min_interval=0 not;
- a token without expiry is cached for max_age seconds, and max_age=0 caches nothing;
- with this machine's clock 2 minutes ahead, expiry decisions use the server's clock, and a
  token with less than 30 s left is refused by the client itself;
- a kernel that cannot open a browser suggests paste=True, at once and when it times out;
- the reachability check: TLS for https, an untrusted certificate only noted, silence fails;
- the peer check reads /proc/net/tcp(6) right (known answers, and our own connection).
Prints one line per check and `N passed, N failed` last; exit status 0 when nothing failed.
"""

import base64
import contextlib
import datetime
import io
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

SUPPORT = Path(__file__).resolve().parent
sys.path.insert(0, str(SUPPORT.parent.parent / "scripts"))

import token2go_client  # noqa: E402 - found through the path set above
from checks import Checks  # noqa: E402 - beside this file (sys.path[0])

STANDIN = SUPPORT / "standin_browser.py"
OPAQUE = "opaque-notebook-token-not-a-jwt"

FAKE_IPYTHON = '''
class _Kernel:
    pass


class _Shell:
    kernel = _Kernel()


def get_ipython():
    return _Shell()
'''

FAKE_DISPLAY = '''
shown = []


class HTML:
    def __init__(self, data):
        self.data = data


def display(*objects):
    shown.extend(objects)
'''


def install_fake_ipython(temp):
    package = Path(temp) / "fake-ipython" / "IPython"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(FAKE_IPYTHON)
    (package / "display.py").write_text(FAKE_DISPLAY)
    sys.path.insert(0, str(package.parent))
    for name in [name for name in sys.modules if name == "IPython" or name.startswith("IPython.")]:
        del sys.modules[name]
    import IPython.display

    return IPython.display.shown


def flows(log):
    if not log.exists():
        return 0
    return sum("/flow/redirect/token" in json.loads(line).get("url", "") for line in log.read_text().splitlines())


def run(call):
    """(result or the Token2goError, what went to stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            result = call()
        except token2go_client.Token2goError as error:
            result = error
    return result, err.getvalue()


def main(argv):
    server = token2go_client.normalize_server_url(argv[1] if len(argv) > 1 else os.environ["T2G_TEST_SERVER_URL"])
    secret = os.environ["STANDIN_TOKEN"]
    checks = Checks()
    api = ["Token2goAuth", "Token2goError", "bearer", "get_token", "token"]
    checks.check("__all__ names the library API", sorted(token2go_client.__all__) == api
                 and all(hasattr(token2go_client, name) for name in api), token2go_client.__all__)
    check_proc_addresses(checks)
    check_reachability(checks, server)
    with tempfile.TemporaryDirectory(prefix="t2g-notebook-") as temp:
        shown = install_fake_ipython(temp)
        log = Path(temp) / "standin.jsonl"
        os.environ.update(XDG_CACHE_HOME=os.path.join(temp, "cache"), STANDIN_LOG=str(log),
                          BROWSER=f"{sys.executable} {STANDIN}")
        for name in ("DISPLAY", "WAYLAND_DISPLAY", "SSH_CONNECTION", "JUPYTERHUB_USER", "KUBERNETES_EXEC_INFO"):
            os.environ.pop(name, None)

        got, err = run(lambda: token2go_client.token(server, timeout=30))
        checks.check("token() returns the secret as a str", type(got) is str and got == secret, f"{got!r} {err}")
        links = [item.data for item in shown]
        checks.check("the link is shown once as HTML, the start link on the listener",
                     len(links) == 1 and links[0].startswith('<a href="http://127.0.0.1:')
                     and "/flow/redirect/token" not in links[0] and 'target="_blank"' in links[0], links)
        checks.check("the secret is on no output", secret not in err and secret not in log.read_text(), err)

        os.environ["BROWSER"] = "false"
        got, err = run(lambda: token2go_client.token(server))
        checks.check("a cache hit opens no browser and shows nothing",
                     got == secret and err == "" and len(shown) == 1 and flows(log) == 1, err)
        os.environ["BROWSER"] = f"{sys.executable} {STANDIN}"
        got, err = run(lambda: token2go_client.token(server, refresh=True, timeout=30))
        checks.check("refresh=True runs the flow again", got == secret and flows(log) == 2, err)

        check_min_interval(checks, server, temp, secret)
        check_max_age(checks, server, temp)
        check_clock_skew(checks, server, temp)
        check_remote_kernel_hint(checks, server, shown)
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 0 if checks.failed == 0 else 1


def check_proc_addresses(checks):
    """Known answers for the peer check's reading of /proc/net/tcp and tcp6 (little-endian words)."""
    import ipaddress
    import socket

    if sys.byteorder != "little":
        return
    cases = [
        ("0100007F:1F90", ("127.0.0.1", 8080)),
        ("0000000000000000FFFF00000100007F:C350", ("127.0.0.1", 50000)),
        ("00000000000000000000000001000000:0016", ("::1", 22)),
    ]
    got = [token2go_client._proc_address(text) for text, _ in cases]
    want = [(ipaddress.ip_address(ip), port) for _, (ip, port) in cases]
    checks.check("/proc/net/tcp(6) addresses decode, IPv4-mapped as IPv4", got == want, got)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    peer = socket.create_connection(listener.getsockname())
    accepted, address = listener.accept()
    uid = token2go_client._peer_uid((ipaddress.ip_address(address[0]), address[1]),
                                    (ipaddress.ip_address("127.0.0.1"), listener.getsockname()[1]))
    checks.check("the peer's uid is found: ours", uid == os.geteuid(), uid)
    for sock in (peer, accepted, listener):
        sock.close()


def check_reachability(checks, server):
    """The check before the browser opens: TLS is checked for https, an untrusted certificate is
    only noted, silence is a failure."""
    import socket
    import ssl
    import threading

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    port = server.rsplit(":", 1)[1]
    got, err = run(lambda: token2go_client.check_reachable(f"https://127.0.0.1:{port}"))
    checks.check("https to a plain HTTP server: the TLS handshake fails at once",
                 isinstance(got, token2go_client.Token2goError) and "TLS handshake failed" in str(got), repr(got))

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                   .sign(key, hashes.SHA256()))
    with tempfile.TemporaryDirectory(prefix="t2g-tls-") as temp:
        pem = Path(temp) / "server.pem"
        pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())
                        + certificate.public_bytes(serialization.Encoding.PEM))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pem)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve_once():
        connection, _ = listener.accept()
        try:
            with context.wrap_socket(connection, server_side=True) as tls:
                tls.recv(1024)
        except (OSError, ssl.SSLError):
            pass

    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    got, err = run(lambda: token2go_client.check_reachable(f"https://localhost:{listener.getsockname()[1]}"))
    checks.check("an untrusted certificate is noted, not fatal (the browser decides)",
                 got is None and "does not trust the certificate" in err, f"{got!r} {err}")
    thread.join(5)

    started = time.monotonic()
    got, err = run(lambda: token2go_client.check_reachable(f"http://127.0.0.1:{listener.getsockname()[1]}",
                                                           timeout=1))
    checks.check("a server that accepts and says nothing fails after the timeout",
                 isinstance(got, token2go_client.Token2goError) and "no HTTP answer within 1 s" in str(got)
                 and time.monotonic() - started < 3, repr(got))
    listener.close()


def check_min_interval(checks, server, temp, secret):
    os.environ["XDG_CACHE_HOME"] = os.path.join(temp, "cache-min-interval")
    directory = Path(token2go_client.cache_directory())
    directory.mkdir(parents=True, mode=0o700)
    stem = token2go_client._stem(server)
    record = {"version": 1, "server": server, "startedAt": int(time.time()) - 5, "result": "failed",
              "error": "no token within 180 s"}
    launch = directory / f"{stem}.launch"
    launch.write_text(json.dumps(record))
    launch.chmod(0o600)
    got, err = run(lambda: token2go_client.token(server, timeout=30))
    checks.check("a sign-in that failed 5 s ago stops the next one, with its reason and when to retry",
                 isinstance(got, token2go_client.Token2goError)
                 and "already in progress or just failed (no token within 180 s)" in str(got)
                 and re.search(r"retry in 2[0-9] s ", str(got)) and "refresh=True" in str(got), f"{got!r} {err}")
    got, err = run(lambda: token2go_client.token(server, timeout=30, min_interval=0))
    recorded = json.loads(launch.read_text())
    checks.check("min_interval=0 signs in, and the record says ok",
                 got == secret and recorded["result"] == "ok" and "error" not in recorded, f"{got!r} {recorded}")


def check_max_age(checks, server, temp):
    os.environ["XDG_CACHE_HOME"] = os.path.join(temp, "cache-max-age")
    os.environ["STANDIN_TOKEN"] = OPAQUE
    entry = Path(token2go_client.cache_file(server))
    got, err = run(lambda: token2go_client.get_token(server, timeout=30, max_age=0))
    checks.check("max_age=0: a token without expiry is not cached",
                 isinstance(got, dict) and got["secret"] == OPAQUE and "expiresAt" not in got
                 and not entry.exists(), f"{got!r} {err}")
    got, err = run(lambda: token2go_client.get_token(server, timeout=30, max_age=120, min_interval=0))
    stored = json.loads(entry.read_text()) if entry.exists() else {}
    expires = token2go_client._parse_rfc3339(got.get("expiresAt", "")) if isinstance(got, dict) else None
    left = (expires - token2go_client._now()).total_seconds() if expires else 0
    checks.check("max_age=120: cached for 120 s, marked maxAgeApplied",
                 100 < left <= 121 and stored.get("maxAgeApplied") is True
                 and stored["token"]["expiresAt"] == got["expiresAt"], f"{got!r} {stored} {err}")
    os.environ["STANDIN_TOKEN"] = "not-sent: the cache answers"
    got, err = run(lambda: token2go_client.token(server))
    checks.check("the max-age entry answers the next call", got == OPAQUE, f"{got!r} {err}")


def unsigned_jwt(exp):
    part = lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")  # noqa: E731
    return f"{part({'alg': 'none'})}.{part({'sub': 'skewed', 'exp': exp})}.c2lnbmF0dXJl"


def check_clock_skew(checks, server, temp):
    """This machine's clock two minutes ahead of the server's (the server's is the real one)."""
    os.environ["XDG_CACHE_HOME"] = os.path.join(temp, "cache-skew")
    real_now = token2go_client._now
    token2go_client._now = lambda: real_now() + datetime.timedelta(seconds=120)
    try:
        secret = unsigned_jwt(int(time.time()) + 100)
        os.environ["STANDIN_TOKEN"] = secret
        entry, err = run(lambda: token2go_client._obtain(token2go_client._settings(server, 30, min_interval=0)))
        stored = json.loads(Path(token2go_client.cache_file(server)).read_text())
        credential = json.loads(token2go_client.format_token(entry.token, "exec-credential", {}, skew=entry.skew))
        expiry = token2go_client._parse_rfc3339(credential["status"]["expirationTimestamp"])
        local_left = (expiry - token2go_client._now()).total_seconds()
        checks.check("skew: a token with 100 s left (expired 20 s ago by our clock) is taken and cached with "
                     "a skew of about -120; kubectl gets the expiry in our clock",
                     entry.token["secret"] == secret and -121 <= stored.get("skew", 0) <= -119
                     and 95 <= local_left <= 102
                     and re.search(r"differs from the server's by 1(19|20|21) s; correcting", err),
                     f"{stored.get('skew')} {local_left} {err}")
        got, err = run(lambda: token2go_client.token(server))
        checks.check("skew: the cached entry answers (100 s left > 60 s)", got == secret and err == "", err)
    finally:
        token2go_client._now = real_now
    # What the client itself refuses (a server that does not check expiry, such as the Go server).
    settings = token2go_client._settings(server, 30)
    now = int(time.time())
    stamp = token2go_client._rfc3339(token2go_client._now())
    document = {"secret": unsigned_jwt(now + 20), "timestamp": stamp, "fingerprint": "f"}
    got, err = run(lambda: token2go_client._accept(document, settings, None))
    checks.check("a token with 20 s left is refused by the client",
                 isinstance(got, token2go_client.Token2goError)
                 and str(got) == "the server handed out a token that expires in less than 30 s: "
                                 "sign in again through the gateway", f"{got!r} {err}")


def check_remote_kernel_hint(checks, server, shown):
    os.environ.pop("BROWSER", None)
    before = len(shown)
    got, err = run(lambda: token2go_client.token(server, timeout=2, cache=False))
    checks.check("a kernel without a browser suggests paste=True at once and on the timeout",
                 isinstance(got, token2go_client.Token2goError) and "paste=True" in str(got)
                 and "paste=True" in err and "interrupt the kernel cancels" in err and len(shown) == before + 1,
                 f"{got!r} {err}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
