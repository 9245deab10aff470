#!/usr/bin/env python3
"""token2go client: fetch your OAuth access token from a token2go server, in a notebook or a shell.

In a notebook (``pip install ./scripts`` from the repository, or this file next to it):

    import requests
    import token2go_client
    secret = token2go_client.token("https://token2go.example.com")
    session = requests.Session()
    session.auth = token2go_client.Token2goAuth("https://token2go.example.com")
    items = session.get("https://api.example.com/items").json()

In a shell (stdout carries the result and nothing else):

    python3 token2go_client.py https://token2go.example.com
    curl -H "$(python3 token2go_client.py --format header)" https://api.example.com/items
    python3 token2go_client.py status

How it works: the client listens on 127.0.0.1 for one callback, generates an RSA key pair, and
sends the browser to a one-time start link on that listener, which redirects it to the server's
token redirect flow with the public key (so no other local account learns the flow URL from the
browser's command line). The server encrypts the token for that key (RSA-OAEP-SHA-256 wrapping
an AES-256-GCM key) and the browser brings the result back to the listener, which serves only
connections of this user. With --paste (the default over SSH without a display) the server shows
the encrypted result as a block to paste here instead. On JupyterHub with jupyter-server-proxy,
the hub carries the callback to the kernel.

Tokens are cached per server in $XDG_CACHE_HOME/token2go or ~/.cache/token2go (tokens without
expiry for --max-age seconds), readable by their owner only; one sign-in per server runs at a
time (a lock and a launch record beside the entry). The Rust `token2go` client shares all three.

Library: token(), get_token(), bearer(), Token2goAuth; every failure raises Token2goError.
Needs Python 3.8+ and the `cryptography` package.
"""

import argparse
import base64
import binascii
import datetime
import errno
import hashlib
import hmac
import html
import http.server
import ipaddress
import json
import os
import re
import secrets
import socket
import socketserver
import stat
import sys
import threading
import time
import urllib.parse
import urllib.request
import webbrowser

try:
    import fcntl
except ImportError:  # not POSIX: no lock, and no cache either (see _CACHE_SUPPORTED)
    fcntl = None

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
except ImportError:
    if __name__ == "__main__":
        sys.exit("token2go: the Python package cryptography is missing: python3 -m pip install cryptography")
    raise

__version__ = "0.1.0"
__all__ = ["Token2goAuth", "Token2goError", "bearer", "get_token", "token"]

KEY_SIZES = (2048, 3072, 4096)
FORMATS = ("token", "json", "header", "exec-credential")
DEFAULT_TIMEOUT = 180
DEFAULT_KEY_SIZE = 2048
DEFAULT_MAX_AGE = 300
DEFAULT_MIN_INTERVAL = 30
# Seconds the server gets to answer the reachability check before the browser opens.
REACH_TIMEOUT = 3
# A received token must stay valid for this long, and a clock difference beyond it is corrected.
MIN_LIFETIME = 30
SKEW_TOLERANCE = 30

OOB_TARGET = "urn:ietf:wg:oauth:2.0:oob"
PASTE_BEGIN = "-----BEGIN TOKEN2GO RESPONSE-----"
PASTE_END = "-----END TOKEN2GO RESPONSE-----"
RESPONSE_FIELDS = ("key", "nonce", "payload", "state")
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 64 * 1024
MAX_PASTE_CHARS = 1024 * 1024
MAX_CACHE_BYTES = 1024 * 1024
CACHE_VERSION = 1
EXPIRY_MARGIN = datetime.timedelta(seconds=60)
DEFAULT_EXEC_API_VERSION = "client.authentication.k8s.io/v1"
INTERCEPTED = ("the sign-in link was opened twice: someone else on this machine may be trying to "
               "intercept the token; try again")

# RSA-OAEP with SHA-256 and MGF1-SHA-256, empty label: how the server wraps the AES key.
_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)

# The cache's safety checks (owner, mode, no symlinks) and its lock need POSIX; elsewhere
# nothing is cached.
_CACHE_SUPPORTED = hasattr(os, "geteuid") and hasattr(os, "O_NOFOLLOW") and fcntl is not None

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))\Z"
)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*\Z")
_UTC = datetime.timezone.utc


class Token2goError(Exception):
    """Any failure of the client. The message is one line and never contains the token."""


# ---------------------------------------------------------------------------------------------
# Library API


def token(server_url=None, **options):
    """Returns the access token (the secret) as a string: cached while it stays valid, else
    fetched through the browser. Keyword arguments as for get_token()."""
    return get_token(server_url, **options)["secret"]


def get_token(server_url=None, timeout=DEFAULT_TIMEOUT, key_size=DEFAULT_KEY_SIZE, paste=None, cache=True,
              *, refresh=False, port=0, open_browser=True, max_age=None, min_interval=None,
              cached_only=False, hub_url=None):
    """Returns the decrypted token document: ``secret``, ``fingerprint``, ``timestamp`` and
    ``expiresAt`` when the token has an expiry (or was given one by max_age).

    server_url: the token2go server, path prefix allowed; None means ``$TOKEN2GO_URL``.
    timeout: seconds to wait for the browser's callback, and for another process's sign-in
        (None waits for ever); paste mode waits for the paste as long as input() does.
    paste: True reads a pasted block with input(), False uses the loopback callback, None
        chooses: paste over SSH without a display, the hub on JupyterHub, else loopback.
    cache: False neither reads nor writes the cache (nor takes the lock); refresh=True skips
        reading it and the one-sign-in-per-min_interval limit.
    port: the callback port on 127.0.0.1, 0 lets the OS pick.
    open_browser: False only shows the link.
    max_age: seconds to cache a token without expiry (None: ``$TOKEN2GO_MAX_AGE`` or 300; 0 never).
    min_interval: seconds between two browser launches for one server (None:
        ``$TOKEN2GO_MIN_INTERVAL`` or 30; 0 no limit).
    cached_only: True returns a valid cached token or raises, never starting a sign-in.
    hub_url: JupyterHub's public URL (default ``$TOKEN2GO_HUB_URL``, ``$JUPYTERHUB_PUBLIC_URL``
        or ``$JUPYTERHUB_EXTERNAL_URL``), for the callback through jupyter-server-proxy.
    """
    return _obtain(_settings(server_url, timeout, key_size, paste, cache, refresh=refresh, port=port,
                             open_browser=open_browser, max_age=max_age, min_interval=min_interval,
                             cached_only=cached_only, hub_url=hub_url)).token


def bearer(server_url=None, **options):
    """Returns ``"Bearer <secret>"`` for an Authorization header."""
    return "Bearer " + token(server_url, **options)


class Token2goAuth:
    """Authentication for ``requests``: ``session.auth = Token2goAuth(url)``.

    Sets ``Authorization: Bearer <secret>`` on each request and fetches the token again when it
    expires within 60 s. Extra keyword arguments go to get_token().
    """

    def __init__(self, server_url=None, **options):
        self.server_url = server_url
        self._options = options
        self._entry = None
        self._lock = threading.Lock()

    def __call__(self, request):
        request.headers["Authorization"] = "Bearer " + self._secret()
        return request

    def _secret(self):
        with self._lock:
            if self._entry is None or not self._entry.valid_for(EXPIRY_MARGIN):
                self._entry = _obtain(_settings(self.server_url, **self._options))
            return self._entry.token["secret"]


def normalize_server_url(server_url=None):
    """The server URL with trailing slashes stripped: the base of the flow URLs and the cache
    key. None (or empty) means ``$TOKEN2GO_URL``."""
    url = server_url or os.environ.get("TOKEN2GO_URL", "")
    if not url:
        raise Token2goError("no server URL: give SERVER_URL or set TOKEN2GO_URL")
    normalized = url.rstrip("/")
    if any(c in "?#" or c.isspace() or not c.isprintable() for c in normalized):
        raise Token2goError("server URL: must be an http(s) URL without query, fragment or whitespace")
    parts = urllib.parse.urlsplit(normalized)
    try:
        parts.port
    except ValueError:
        raise Token2goError("server URL: invalid port") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise Token2goError("server URL: must start with http:// or https:// and name a host")
    return normalized


def paste_by_default(environ):
    """Paste mode when nothing could open a browser here: an SSH session without a display."""
    return (not environ.get("BROWSER") and not environ.get("DISPLAY")
            and not environ.get("WAYLAND_DISPLAY") and bool(environ.get("SSH_CONNECTION")))


def format_token(token, output_format, environ=None, *, skew=0):
    """The CLI's result line for `output_format` (one of FORMATS), without the newline. skew
    (server clock minus ours, seconds) turns the expiry into this machine's clock for kubectl."""
    secret = token["secret"]
    if output_format == "token":
        return secret
    if output_format == "json":
        return json.dumps(token, separators=(",", ":"))
    if output_format == "header":
        return "Authorization: Bearer " + secret
    if output_format == "exec-credential":
        status = {"token": secret}
        expiry = _believed_expiry(token)
        if expiry is not None:
            if skew == 0 and _expires_at(token) == expiry:
                status["expirationTimestamp"] = token["expiresAt"]
            else:
                status["expirationTimestamp"] = _rfc3339(expiry - datetime.timedelta(seconds=skew))
        credential = {
            "apiVersion": _exec_api_version(os.environ if environ is None else environ),
            "kind": "ExecCredential",
            "status": status,
        }
        return json.dumps(credential, separators=(",", ":"))
    raise Token2goError(f"format must be one of {', '.join(FORMATS)}")


def _exec_info(environ):
    """kubectl's KUBERNETES_EXEC_INFO as a dict ({} when absent or not JSON)."""
    try:
        info = json.loads(environ.get("KUBERNETES_EXEC_INFO", ""))
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def _exec_api_version(environ):
    """kubectl passes the ExecCredential version it wants in KUBERNETES_EXEC_INFO."""
    version = _exec_info(environ).get("apiVersion")
    return version if isinstance(version, str) and version else DEFAULT_EXEC_API_VERSION


def _exec_interactive(environ):
    """False when kubectl says no one is at a terminal (spec.interactive false): Lens-like tools
    and background kubectl calls must not open browser tabs."""
    spec = _exec_info(environ).get("spec")
    return not (isinstance(spec, dict) and spec.get("interactive") is False)


# ---------------------------------------------------------------------------------------------
# One run: settings, the cache and its lock, the flow, and what is believed of the token


class _Settings:
    """A run's checked settings (see get_token() for their meaning)."""


def _settings(server_url=None, timeout=DEFAULT_TIMEOUT, key_size=DEFAULT_KEY_SIZE, paste=None, cache=True, *,
              refresh=False, port=0, open_browser=True, max_age=None, min_interval=None, cached_only=False,
              hub_url=None, environ=None, cli=False):
    environ = os.environ if environ is None else environ
    if key_size not in KEY_SIZES:
        raise Token2goError(f"key size must be one of {', '.join(map(str, KEY_SIZES))}")
    if timeout is not None and not timeout > 0:
        raise Token2goError("timeout must be a positive number of seconds")
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise Token2goError("port must be between 0 and 65535")
    s = _Settings()
    s.server = normalize_server_url(server_url)
    s.timeout, s.key_size, s.paste, s.cache, s.refresh = timeout, key_size, paste, cache, refresh
    s.port, s.open_browser, s.cached_only, s.hub_url = port, open_browser, cached_only, hub_url
    s.max_age = _seconds_setting("max_age", max_age, "TOKEN2GO_MAX_AGE", DEFAULT_MAX_AGE, environ)
    s.min_interval = _seconds_setting("min_interval", min_interval, "TOKEN2GO_MIN_INTERVAL",
                                      DEFAULT_MIN_INTERVAL, environ)
    s.interactive = _exec_interactive(environ)
    s.environ = environ
    s.cli = cli
    return s


def _seconds_setting(name, value, variable, default, environ):
    """A whole number of seconds, 0 or more: the argument, else the variable, else the default."""
    if value is None:
        text = environ.get(variable, "")
        if not text:
            return default
        if not re.fullmatch(r"[0-9]{1,9}", text):
            raise Token2goError(f"{variable}: must be a whole number of seconds, not {text!r}")
        return int(text)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Token2goError(f"{name} must be a whole number of seconds, 0 or more")
    return value


def _obtain(s):
    """The run: a valid cached token, else one sign-in under the per-server lock. Returns an _Entry."""
    cache = _Cache(s.server) if s.cache and _CACHE_SUPPORTED else None
    if cache is not None and cache.problem:
        if s.cached_only:
            raise Token2goError(cache.problem)
        _note(f"{cache.problem}: going on without the cache")
        cache = None
    if cache is not None and not s.refresh:
        entry = cache.read()
        if entry is not None:
            return entry
    if s.cached_only:
        raise Token2goError(f"no valid token cached for {s.server}")
    if not s.interactive:
        raise Token2goError(
            f"no valid token cached for {s.server}, and kubectl runs {_command_name()} non-interactively "
            f"(no browser): run `{_command_name()} {s.server}` once in a terminal")
    if cache is None:
        return _accept(_fetch(s), s, None)
    with cache.locked(s.timeout):
        if not s.refresh:
            entry = cache.read(quiet=True)
            if entry is not None:
                return entry
        cache.check_launch(s.min_interval, s.refresh, s.cli)
        cache.write_launch("running")
        try:
            entry = _accept(_fetch(s), s, cache)
        except Token2goError as error:
            cache.write_launch("failed", str(error))
            raise
        except BaseException:
            cache.write_launch("failed", "interrupted")
            raise
        cache.write_launch("ok")
        return entry


def _command_name():
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return name if name.startswith("token2go") else "token2go"


class _Entry:
    """A token document with what this client knows about it: the server's clock minus ours
    (seconds) and whether its expiry is the max-age one."""

    def __init__(self, token, skew=0, max_age_applied=False):
        self.token = token
        self.skew = skew
        self.max_age_applied = max_age_applied

    def expiry(self):
        return _believed_expiry(self.token)

    def remaining(self):
        """Time left by the server's clock; None without expiry."""
        expiry = self.expiry()
        if expiry is None:
            return None
        return expiry - (_now() + datetime.timedelta(seconds=self.skew))

    def valid_for(self, margin):
        """True when the token stays valid for longer than margin; one without expiry does."""
        remaining = self.remaining()
        return remaining is None or remaining > margin


def _accept(token, s, cache):
    """Checks a freshly received token (clock skew, expiry, max-age) and caches it. Refuses one
    that expires within MIN_LIFETIME: a gateway may forward an expired token."""
    now = _now()
    entry = _Entry(token, _skew(token, now))
    remaining = entry.remaining()
    if remaining is not None and remaining < datetime.timedelta(seconds=MIN_LIFETIME):
        raise Token2goError(f"the server handed out a token that expires in less than {MIN_LIFETIME} s: "
                            "sign in again through the gateway")
    if remaining is None and s.max_age > 0:
        token["expiresAt"] = _rfc3339(now + datetime.timedelta(seconds=entry.skew + s.max_age))
        entry.max_age_applied = True
    if cache is not None and entry.expiry() is not None:
        try:
            cache.write(entry)
        except OSError as error:
            _note(f"could not write the cache entry: {error.strerror or error}")
    return entry


def _skew(token, now):
    """The server's clock minus ours in whole seconds, from the document's timestamp; 0 when
    within SKEW_TOLERANCE (network and browser time) or unknown."""
    value = token.get("timestamp")
    server_time = _parse_rfc3339(value) if isinstance(value, str) else None
    if server_time is None:
        return 0
    difference = round((server_time - now).total_seconds())
    if abs(difference) <= SKEW_TOLERANCE:
        return 0
    _note(f"this machine's clock differs from the server's by {abs(difference)} s; correcting")
    return difference


def _now():
    return datetime.datetime.now(_UTC)


def jwt_claims(secret):
    """The claims of a JWT (its middle part, not verified), or None for another kind of token."""
    parts = secret.split(".")
    if len(parts) != 3 or not parts[1]:
        return None
    try:
        claims = json.loads(_b64url_decode(parts[1]))
    except (Token2goError, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def _jwt_exp(secret):
    claims = jwt_claims(secret)
    exp = claims.get("exp") if claims else None
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        return None
    try:
        return datetime.datetime.fromtimestamp(exp, _UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _believed_expiry(token):
    """The earlier of expiresAt and the JWT's own exp: an expiresAt later than exp (a cache entry
    someone edited) is not believed."""
    known = [when for when in (_expires_at(token), _jwt_exp(token.get("secret", ""))) if when is not None]
    return min(known) if known else None


def _rfc3339(when):
    return when.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# Keys, URLs and decryption


def generate_key(key_size):
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


def verification_code(public_key):
    """The code the paste page shows: RFC 4648 base32 of SHA-256 over the DER
    SubjectPublicKeyInfo, first 8 characters, as XXXX-XXXX."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    code = base64.b32encode(hashlib.sha256(der).digest()).decode("ascii")
    return f"{code[:4]}-{code[4:8]}"


def flow_url(server, target, state, public_key, key_size, response_mode=None):
    """The server's flow URL; every value percent-encoded except A-Z a-z 0-9 - . _ ~."""
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    params = [
        ("target", target),
        ("state", state),
        ("publicKeyType", f"rsa{key_size}-rfc5280-x509-pem"),
        ("publicKey", pem.decode("ascii")),
    ]
    if response_mode:
        params.append(("responseMode", response_mode))
    query = "&".join(f"{name}={urllib.parse.quote(value, safe='')}" for name, value in params)
    return f"{server}/flow/redirect/token?{query}"


def _random_b64url(size):
    return base64.urlsafe_b64encode(secrets.token_bytes(size)).decode("ascii").rstrip("=")


def decrypt(private_key, wrapped_key, nonce, ciphertext):
    """Opens the server's response: RSA-OAEP unwraps the 32-byte AES key, AES-256-GCM (12-byte
    nonce, no associated data) the JSON document. Returns the document."""
    failure = Token2goError("decryption failed: the response was not encrypted for this request's key")
    try:
        aes_key = private_key.decrypt(wrapped_key, _OAEP)
    except ValueError:
        raise failure from None
    if len(aes_key) != 32 or len(nonce) != 12:
        raise failure
    try:
        plaintext = AESGCM(aes_key).decrypt(nonce, ciphertext, None)
    except InvalidTag:
        raise failure from None
    try:
        token = json.loads(plaintext.decode("utf-8"))
    except ValueError:
        raise Token2goError("the decrypted response is not JSON") from None
    if not isinstance(token, dict) or not isinstance(token.get("secret"), str) or not token["secret"]:
        raise Token2goError("the decrypted response carries no secret")
    return token


def open_callback(private_key, expected_state, fields):
    """Checks and decrypts the four fields of a callback (query or form). A callback with
    `error` (the server could not deliver: RFC 6749 section 4.1.2.1) is checked for the state
    like a delivery, then raised as the server's description."""
    needed = ("state",) if "error" in fields else RESPONSE_FIELDS
    missing = [name for name in needed if name not in fields]
    if missing:
        raise Token2goError(f"the callback lacks {', '.join(missing)}")
    if not hmac.compare_digest(fields["state"].encode("utf-8"), expected_state.encode("utf-8")):
        raise Token2goError("state mismatch: the callback does not answer this request")
    if "error" in fields:
        description = _printable(fields.get("error_description", "")) or "no description"
        raise Token2goError(f"the server could not hand out a token: {description} ({_printable(fields['error'])})")
    wrapped_key, nonce, ciphertext = (_b64decode(name, fields[name]) for name in ("key", "nonce", "payload"))
    return decrypt(private_key, wrapped_key, nonce, ciphertext)


def _printable(text, limit=400):
    """text reduced to printable ASCII on one line, at most limit characters."""
    return "".join(c if " " <= c <= "~" else "?" for c in " ".join(text.split()))[:limit]


def _b64decode(name, text):
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Token2goError(f"the callback's {name} is not base64") from None


def parse_paste_block(text):
    """(wrapped key, nonce, ciphertext) from a pasted block. Whitespace anywhere is ignored, so
    a block whose line breaks were lost (pasted into a one-line input) still parses."""
    start = text.find(PASTE_BEGIN)
    end = text.find(PASTE_END, start + 1)
    if start < 0 or end < 0:
        raise Token2goError(f"the pasted text is not a block from {PASTE_BEGIN} to {PASTE_END}")
    body = "".join(text[start + len(PASTE_BEGIN):end].split())
    parts = body.split(".")
    if len(parts) != 3:
        raise Token2goError("the pasted block is not three parts separated by '.'")
    return tuple(_b64url_decode(part) for part in parts)


def _b64url_decode(text):
    if not _BASE64URL.match(text) or len(text) % 4 == 1:
        raise Token2goError("the pasted block is not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))




# ---------------------------------------------------------------------------------------------
# Is the server there at all? (before a browser is sent to it)


def check_reachable(server, timeout=REACH_TIMEOUT):
    """Raises Token2goError when server cannot be reached within timeout seconds: the name does
    not resolve, TCP or TLS fails, or no HTTP answer comes. Any HTTP answer will do (a gateway's
    login redirect too). A certificate this Python does not trust is only noted: the browser,
    not this client, talks to the server, and may trust a CA that Python's store lacks. Not
    checked when a proxy is configured for the server (the browser may use it too)."""
    parts = urllib.parse.urlsplit(server)
    host, https = parts.hostname, parts.scheme.lower() == "https"
    port = parts.port or (443 if https else 80)
    proxies = urllib.request.getproxies()
    if proxies.get(parts.scheme.lower()) and not urllib.request.proxy_bypass(host):
        return
    deadline = time.monotonic() + timeout
    try:
        connection = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as error:
        raise Token2goError(f"cannot reach {server}: {host} does not resolve ({error.strerror})") from None
    except socket.timeout:
        raise Token2goError(f"cannot reach {server}: no connection within {timeout:g} s") from None
    except OSError as error:
        raise Token2goError(f"cannot reach {server}: {error.strerror or error}") from None
    try:
        connection.settimeout(max(0.1, deadline - time.monotonic()))
        if https:
            tls = _tls_handshake(connection, server, host)
            if tls is None:
                return
            connection = tls
        _http_answer(connection, server, parts.netloc, parts.path or "/", timeout)
    finally:
        connection.close()


def _tls_handshake(connection, server, host):
    import ssl  # only for https servers

    try:
        return ssl.create_default_context().wrap_socket(connection, server_hostname=host)
    except ssl.SSLCertVerificationError as error:
        _note(f"this Python does not trust the certificate of {server} ({error.verify_message}); "
              "your browser decides")
        return None
    except socket.timeout:
        raise Token2goError(f"cannot reach {server}: no TLS handshake within {REACH_TIMEOUT:g} s") from None
    except (ssl.SSLError, OSError) as error:
        reason = getattr(error, "reason", None) or error.strerror or error
        raise Token2goError(f"cannot reach {server}: TLS handshake failed ({reason})") from None


def _http_answer(connection, server, netloc, path, timeout):
    request = f"GET {path} HTTP/1.1\r\nHost: {netloc}\r\nUser-Agent: token2go-client\r\nConnection: close\r\n\r\n"
    try:
        connection.sendall(request.encode("ascii"))
        first = connection.recv(16)
    except socket.timeout:
        raise Token2goError(f"cannot reach {server}: no HTTP answer within {timeout:g} s") from None
    except OSError as error:
        raise Token2goError(f"cannot reach {server}: {error.strerror or error}") from None
    if not first:
        raise Token2goError(f"cannot reach {server}: the connection closed without an HTTP answer")
    if not first.startswith(b"HTTP/"[:len(first)]):
        raise Token2goError(f"cannot reach {server}: the answer is not HTTP")


# ---------------------------------------------------------------------------------------------
# The flows: loopback callback (direct or through JupyterHub) and paste


def _fetch(s):
    """One sign-in; returns the token document."""
    mode, hub_base = _choose_mode(s)
    check_reachable(s.server)
    if mode == "paste":
        return _paste_flow(s)
    return _callback_flow(s, hub_base)


def _choose_mode(s):
    """("paste", None), ("loopback", None) or ("hub", base URL of this server's proxy), saying
    on stderr why when the environment chose."""
    if s.paste:
        return "paste", None
    hub = _jupyterhub_proxy(s.environ, s.hub_url)
    if hub is not None:
        base, why_not = hub
        if base:
            return "hub", base
        if s.paste is None:
            _note(f"on JupyterHub, but {why_not}: using paste mode")
            return "paste", None
    elif s.paste is None and paste_by_default(s.environ):
        _note("SSH session without a display or BROWSER: using paste mode "
              "(--no-paste or paste=False for the loopback callback)")
        return "paste", None
    if _notebook_shell() is not None and not _can_open_browser():
        _note("this kernel cannot open a browser: if yours runs on another machine, it cannot reach "
              "this kernel's 127.0.0.1; interrupt and call again with paste=True")
    return "loopback", None


def _jupyterhub_proxy(environ, hub_url):
    """None when not on JupyterHub; else (base, None) with base the public URL of this
    server's jupyter-server-proxy (`<hub>/user/<name>/proxy/`), or (None, why not)."""
    prefix = environ.get("JUPYTERHUB_SERVICE_PREFIX", "")
    if not environ.get("JUPYTERHUB_USER") or not prefix:
        return None
    if not _server_proxy_available(environ):
        return None, ("jupyter-server-proxy is not importable here (set TOKEN2GO_JUPYTER_PROXY=1 "
                      "when the Jupyter server has it)")
    public = (hub_url or environ.get("TOKEN2GO_HUB_URL") or environ.get("JUPYTERHUB_PUBLIC_URL")
              or environ.get("JUPYTERHUB_EXTERNAL_URL"))
    if not public:
        return None, "the hub's public URL is unknown (set TOKEN2GO_HUB_URL or pass hub_url=)"
    parts = urllib.parse.urlsplit(public)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None, f"the hub's public URL {_printable(public, 100)!r} is not an http(s) URL"
    # The prefix already holds the hub's base_url; the public URL may too, so only its origin counts.
    return f"{parts.scheme.lower()}://{parts.netloc}/{prefix.strip('/')}/proxy/", None


def _server_proxy_available(environ):
    """TOKEN2GO_JUPYTER_PROXY=1/0 says so (the kernel may run in another environment than the
    Jupyter server); else whether jupyter_server_proxy is importable here."""
    told = environ.get("TOKEN2GO_JUPYTER_PROXY", "").strip().lower()
    if told in ("1", "true", "yes"):
        return True
    if told in ("0", "false", "no"):
        return False
    import importlib.util

    try:
        return importlib.util.find_spec("jupyter_server_proxy") is not None
    except (ImportError, ValueError):
        return False


def _callback_flow(s, hub_base):
    """The loopback listener gets the callback; through the hub (hub_base) the browser reaches
    it as `<hub_base><port>/<path>` with the response in the query (a cross-site form POST
    would arrive without the hub's cookies)."""
    listener = _CallbackServer(s.port, hub_base)
    try:
        private_key = generate_key(s.key_size)
        state = _random_b64url(32)
        url = flow_url(s.server, listener.public_url(listener.path), state, private_key.public_key(), s.key_size,
                       response_mode=None if hub_base else "form_post")
        listener.start(private_key, state, url, done_url=f"{s.server}/flow/redirect/done")
        if not hub_base and _notebook_shell() is not None and not _can_open_browser():
            listener.timeout_hint = "; if your browser runs on another machine, call again with paste=True"
        _show_url(listener.public_url(listener.start_path), s.open_browser, "to fetch a token")
        cancel = "interrupt the kernel" if _notebook_shell() is not None else "Ctrl-C"
        limit = f" (at most {s.timeout:g} s)" if s.timeout is not None else ""
        _note(f"waiting for the browser to come back{limit}; {cancel} cancels")
        return listener.wait(s.timeout)
    finally:
        listener.close()


def _paste_flow(s):
    private_key = generate_key(s.key_size)
    url = flow_url(s.server, OOB_TARGET, _random_b64url(32), private_key.public_key(), s.key_size)
    _show_url(url, s.open_browser, "to fetch a token as a block to paste here")
    _note(
        f"verification code: {verification_code(private_key.public_key())} (the page shows a warning"
        ' and a code first: if it is this code, press "Show the encrypted token")'
    )
    _note(f"paste the block here (it ends with {PASTE_END}):")
    wrapped_key, nonce, ciphertext = parse_paste_block(_read_paste(input))
    return decrypt(private_key, wrapped_key, nonce, ciphertext)


def _read_paste(read_line):
    """Lines from read_line (input() in a terminal or a notebook) up to the one holding the END
    marker. input() gets no prompt: it would print it on stdout, which is for the result."""
    lines = []
    size = 0
    while True:
        try:
            line = read_line()
        except EOFError:
            raise Token2goError(f"input ended before {PASTE_END}") from None
        lines.append(line)
        size += len(line)
        if PASTE_END in line:
            return "\n".join(lines)
        if size > MAX_PASTE_CHARS:
            raise Token2goError("the pasted text is too long")


def _show_url(url, open_browser, purpose):
    opening = open_browser and _can_open_browser()
    if opening:
        _note(f"opening your browser {purpose}; if it does not open, visit this URL:")
    else:
        _note(f"visit this URL in your browser {purpose}:")
    print(url, file=sys.stderr, flush=True)
    _display_link(url, f"token2go: open this link {purpose}")
    if opening:
        _open_browser_in_background(url)


def _notebook_shell():
    """The IPython kernel shell when running in Jupyter (never imports IPython itself)."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    try:
        shell = get_ipython() if get_ipython else None
    except Exception:  # noqa: BLE001 - a broken IPython only means no notebook display
        return None
    return shell if getattr(shell, "kernel", None) is not None else None


def _display_link(url, text):
    """In Jupyter, shows url as a clickable link below the cell (stderr is plain text there)."""
    if _notebook_shell() is None:
        return
    try:
        from IPython.display import HTML, display

        display(HTML(f'<a href="{html.escape(url)}" target="_blank" rel="noopener noreferrer">'
                     f"{html.escape(text)}</a>"))
    except Exception:  # noqa: BLE001 - the URL is on stderr already
        pass


def _can_open_browser():
    # Without a display, webbrowser would fall back to a console browser (lynx, w3m) that takes
    # over the terminal while the client waits; printing the URL is better there.
    return bool(os.environ.get("BROWSER") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or sys.platform in ("darwin", "win32"))


def _open_browser_in_background(url):
    """Opens url without waiting for the browser: GenericBrowser waits for its command to exit,
    so it runs on a daemon thread. BROWSER is read as the contract says (split on whitespace,
    %s replaced or the URL appended), not as webbrowser reads it (a list split on os.pathsep)."""
    command = os.environ.get("BROWSER", "").split()
    if command:
        if not any("%s" in arg for arg in command[1:]):
            command.append("%s")
        opener = webbrowser.GenericBrowser(command).open
    else:
        opener = webbrowser.open

    def open_quietly():
        try:
            opener(url)
        except Exception:  # noqa: BLE001 - the URL is on stderr already; a failed browser is not an error
            pass

    threading.Thread(target=open_quietly, name="token2go-browser", daemon=True).start()


class _CallbackServer(socketserver.ThreadingTCPServer):
    """The loopback listener. It binds on construction; start() serves on a background thread
    (so it works inside a running Jupyter kernel) and wait() blocks the caller until the run is
    decided: the first GET or POST on the callback path, or a second use of the start link.

    Two random paths: the start link (`start_path`), which the browser is given and which
    redirects once to the flow URL, and the callback (`path`), which the flow URL names. Only
    connections of this user are served (see _peer_uid)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port, hub_base=None):
        try:
            super().__init__(("127.0.0.1", port), _CallbackHandler)
        except OSError as error:
            raise Token2goError(f"cannot listen on 127.0.0.1:{port}: {error.strerror or error}") from None
        self.port = self.server_address[1]
        self.hub_base = hub_base
        # Through jupyter-server-proxy the Host header may be the hub's own.
        self.expected_hosts = [f"127.0.0.1:{self.port}"]
        if hub_base:
            self.expected_hosts += [f"localhost:{self.port}", urllib.parse.urlsplit(hub_base).netloc]
        self.path = "/" + _random_b64url(16)
        self.start_path = "/" + _random_b64url(16)
        self.flow_url = None
        self.done_url = None
        self.timeout_hint = ""
        self._private_key = None
        self._state = None
        self._lock = threading.Lock()
        self._started = False
        self._claimed = False
        self._finished = threading.Event()
        self._token = None
        self._error = None
        self._thread = None
        self._peer_check = _PeerCheck(self.server_address)

    def public_url(self, path):
        """How the browser reaches `path`: directly, or through the hub's proxy."""
        if self.hub_base:
            return f"{self.hub_base}{self.port}{path}"
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, private_key, state, flow_url, done_url):
        self._private_key = private_key
        self._state = state
        self.flow_url = flow_url
        self.done_url = done_url
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="token2go-callback", daemon=True)
        self._thread.start()

    def wait(self, timeout):
        if not self._finished.wait(timeout):
            raise Token2goError(f"no token within {timeout:g} s: the browser did not come back "
                                f"(if it shows an error page, that says why){self.timeout_hint}")
        if self._error is not None:
            raise self._error
        return self._token

    def close(self):
        if self._thread is not None:
            self.shutdown()
        self.server_close()

    def verify_request(self, request, client_address):
        """Another local account's connection is closed unanswered (socketserver closes it when
        this says False), before any thread or byte is spent on it."""
        return self._peer_check.allowed(client_address)

    def use_start_link(self):
        """True for the first use of the start link; a second use ends the run."""
        with self._lock:
            first = not self._started
            self._started = True
        if not first:
            self.finish(error=Token2goError(INTERCEPTED))
        return first

    def claim(self):
        """True for the first delivery only, and only while the run is undecided."""
        with self._lock:
            first = not self._claimed and not self._finished.is_set()
            self._claimed = True
            return first

    def open_callback(self, fields):
        return open_callback(self._private_key, self._state, fields)

    def finish(self, token=None, error=None):
        """The first outcome decides the run."""
        with self._lock:
            if self._finished.is_set():
                return
            self._token = token
            self._error = error
            self._finished.set()

    def handle_error(self, request, client_address):
        """A browser that drops its connection is no reason for a traceback on stderr."""


class _PeerCheck:
    """Which local user a connection to the listener comes from (Linux): the row of
    /proc/net/tcp or /proc/net/tcp6 whose local address is the peer's and whose remote address
    is the listener, and its uid column. Elsewhere it says once that it cannot tell and lets
    every connection in, as before."""

    _warned = False

    def __init__(self, listener_address):
        self.listener = (ipaddress.ip_address(listener_address[0]), listener_address[1])
        self.uid = os.geteuid() if hasattr(os, "geteuid") else None
        self.supported = self.uid is not None and os.path.exists("/proc/net/tcp")
        if not self.supported and not _PeerCheck._warned:
            _PeerCheck._warned = True
            _note("cannot check which local user connects to the callback; any local account could reach it")

    def allowed(self, peer):
        if not self.supported:
            return True
        return _peer_uid((ipaddress.ip_address(peer[0]), peer[1]), self.listener) == self.uid


def _peer_uid(peer, listener):
    """The uid owning the socket at `peer` connected to `listener` ((address, port) pairs), or
    None when no such row exists (the peer has gone, or /proc cannot be read)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as rows:
                next(rows, None)
                for row in rows:
                    fields = row.split()
                    # sl local rem st tx:rx tr:when retrnsmt uid ...; TIME_WAIT (06) rows have uid 0.
                    if (len(fields) > 7 and fields[3] != "06" and _proc_address(fields[1]) == peer
                            and _proc_address(fields[2]) == listener):
                        return int(fields[7])
        except (OSError, ValueError):
            continue
    return None


def _proc_address(text):
    """ADDRESS:PORT of /proc/net/tcp(6), hex: the address as 32-bit words in host byte order.
    IPv4-mapped IPv6 addresses come back as IPv4."""
    address, _, port = text.partition(":")
    raw = bytes.fromhex(address)
    words = b"".join(raw[i:i + 4][::-1] if sys.byteorder == "little" else raw[i:i + 4]
                     for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(words)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip, int(port, 16)


class _CallbackHandler(http.server.BaseHTTPRequestHandler):
    server_version = "token2go-client"
    sys_version = ""
    # An idle connection (a browser's speculative preconnect) must not hold a thread for ever.
    timeout = 10

    def log_message(self, format, *args):
        """Silent: request lines carry the (encrypted) response in their query."""

    def do_GET(self):
        target = self._addressed_to_us()
        if target == "start":
            self._start()
        elif target == "callback":
            self._deliver(lambda: dict(urllib.parse.parse_qsl(self.path.partition("?")[2], keep_blank_values=True)))

    def do_POST(self):
        target = self._addressed_to_us()
        if target == "callback":
            self._deliver(self._form_fields)
        elif target == "start":
            self._start()

    def __getattr__(self, name):
        # BaseHTTPRequestHandler answers 501 to a method it finds no do_<METHOD> for; other
        # paths and hosts must get 404 whatever the method, and our paths 405.
        if name.startswith("do_"):
            return self._other_method
        raise AttributeError(name)

    def _other_method(self):
        target = self._addressed_to_us()
        if target == "start":
            self._start()
        elif target:
            self._reply(405, "Method Not Allowed")

    def _addressed_to_us(self):
        """"start" or "callback" for one of the random paths with an expected Host (127.0.0.1:PORT,
        so that no web page can reach the listener through DNS rebinding); anything else gets
        404 and changes nothing."""
        path = self.path.partition("?")[0].encode("latin-1")
        hosts = self.headers.get_all("Host") or []
        if len(hosts) == 1 and hosts[0] in self.server.expected_hosts:
            if hmac.compare_digest(path, self.server.path.encode("ascii")):
                return "callback"
            if hmac.compare_digest(path, self.server.start_path.encode("ascii")):
                return "start"
        self._reply(404, "Not Found")
        return None

    def _start(self):
        """Any request for the start link uses it up; only a GET is sent on to the flow."""
        if not self.server.use_start_link():
            self._reply(400, "This sign-in link was used already.")
        elif self.command == "GET":
            self._reply(303, "Continue at the token2go server.", location=self.server.flow_url)
        else:
            self._reply(405, "Method Not Allowed")

    def _deliver(self, read_fields):
        if not self.server.claim():
            self._reply(410, "This request was answered already.")
            return
        try:
            token = self.server.open_callback(read_fields())
        except Token2goError as error:
            try:
                self._reply(400, f"token2go: {error}")
            finally:
                self.server.finish(error=error)
            return
        try:
            self._reply(303, "Token received.", location=self.server.done_url)
        finally:
            self.server.finish(token=token)

    def _form_fields(self):
        if self.headers.get_content_type() != FORM_CONTENT_TYPE:
            raise Token2goError(f"the callback's body is not {FORM_CONTENT_TYPE}")
        length = self.headers.get("Content-Length", "")
        if "Transfer-Encoding" in self.headers or not re.fullmatch(r"[0-9]{1,9}", length):
            raise Token2goError("the callback's body has no valid Content-Length")
        if int(length) > MAX_FORM_BYTES:
            raise Token2goError("the callback's body is larger than 64 KiB")
        try:
            body = self.rfile.read(int(length))
        except OSError:
            body = b""
        if len(body) != int(length):
            raise Token2goError("the callback's body ended early")
        return dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))

    def _reply(self, status, text, location=None):
        body = (text + "\n").encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Content-Type-Options", "nosniff")
        if location:
            self.send_header("Location", location)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


# ---------------------------------------------------------------------------------------------
# Cache: one JSON entry per server, its lock and its launch record, shared with the Rust client


class _BadCacheEntry(Exception):
    pass


def cache_directory():
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "token2go")


def _stem(server):
    return hashlib.sha256(server.encode("utf-8")).hexdigest()[:32]


def cache_file(server):
    return os.path.join(cache_directory(), _stem(server) + ".json")


def _directory_problem(directory):
    """Why the cache directory must not be used (someone else could swap the entry, the lock or
    the record), or None; a directory that does not exist yet is fine (it is created 0700)."""
    try:
        info = os.stat(directory)
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"cannot use the cache directory {directory}: {error.strerror}"
    if not stat.S_ISDIR(info.st_mode):
        return f"the cache directory {directory} is not a directory"
    if info.st_uid != os.geteuid():
        return f"the cache directory {directory} is owned by another user"
    if info.st_mode & 0o022:
        return f"the cache directory {directory} is writable by group or others"
    return None


class _Cache:
    """The files of one server: `<stem>.json` (the entry), `<stem>.lock` (flock'ed while a
    sign-in runs) and `<stem>.launch` (when the last sign-in started and how it ended)."""

    def __init__(self, server):
        self.server = server
        self.directory = cache_directory()
        base = os.path.join(self.directory, _stem(server))
        self.entry_path, self.lock_path, self.launch_path = base + ".json", base + ".lock", base + ".launch"
        self.problem = _directory_problem(self.directory)
        self._started_at = None

    def read(self, quiet=False):
        """The cached entry if it stays valid for more than 60 s, else None. A file that is
        unsafe or not ours is reported on stderr (unless quiet) and treated as a miss."""
        try:
            entry = _load_cache_entry(self.entry_path, self.server)
        except FileNotFoundError:
            return None
        except _BadCacheEntry as bad:
            if not quiet:
                _note(f"ignoring the cache entry {self.entry_path}: {bad}")
            return None
        return entry if entry.valid_for(EXPIRY_MARGIN) else None

    def write(self, entry):
        document = {"version": CACHE_VERSION, "server": self.server, "token": entry.token}
        if entry.max_age_applied:
            document["maxAgeApplied"] = True
        if entry.skew:
            document["skew"] = entry.skew
        _write_private(self.directory, self.entry_path, json.dumps(document).encode("utf-8"))

    def locked(self, timeout):
        """The per-server lock, as a context manager; waits up to timeout seconds for it."""
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise Token2goError(f"cannot open the lock {self.lock_path}: {error.strerror}") from None
        return _Locked(fd, timeout, self.server)

    def check_launch(self, min_interval, refresh, cli):
        """Raises unless a browser may be launched now: no record, the last launch at least
        min_interval seconds ago, or refresh."""
        record = None if refresh or min_interval == 0 else _read_launch(self.launch_path, self.server)
        if record is None:
            return
        elapsed = time.time() - record["startedAt"]
        # A record from the future means a clock that was set back: it limits nothing.
        if elapsed >= min_interval or elapsed < -min_interval:
            return
        failure = f" ({record['error']})" if record["result"] == "failed" else ""
        retry = "--refresh" if cli else "refresh=True"
        raise Token2goError(f"a sign-in for {self.server} is already in progress or just failed{failure}; "
                            f"retry in {max(1, int(min_interval - elapsed + 0.999))} s or pass {retry}")

    def write_launch(self, result, error=None):
        if result == "running":
            self._started_at = int(time.time())
        record = {"version": 1, "server": self.server, "startedAt": self._started_at, "result": result}
        if error is not None:
            record["error"] = _printable(error, 300)
        try:
            _write_private(self.directory, self.launch_path, json.dumps(record).encode("utf-8"))
        except OSError as error:
            _note(f"could not write the launch record: {error.strerror or error}")


class _Locked:
    """Holds flock(LOCK_EX) on fd from __enter__ until __exit__ closes it (the kernel also
    releases it when the process dies)."""

    def __init__(self, fd, timeout, server):
        self.fd, self.timeout, self.server = fd, timeout, server

    def __enter__(self):
        try:
            if self._try():
                return self
            _note(f"waiting for another token2go sign-in for {self.server} to finish")
            deadline = None if self.timeout is None else time.monotonic() + self.timeout
            while not self._try():
                if deadline is not None and time.monotonic() > deadline:
                    raise Token2goError(f"another token2go sign-in for {self.server} did not finish "
                                        f"within {self.timeout:g} s")
                time.sleep(0.05)
            return self
        except BaseException:
            os.close(self.fd)
            raise

    def _try(self):
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        except OSError as error:
            raise Token2goError(f"cannot lock the cache: {error.strerror}") from None

    def __exit__(self, *exc):
        os.close(self.fd)


def _read_private(path):
    """The bytes of path if it is a regular file (not a symbolic link) of ours that nobody else
    can access, at most MAX_CACHE_BYTES; _BadCacheEntry says why not."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise _BadCacheEntry("a symbolic link" if error.errno == errno.ELOOP else error.strerror) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _BadCacheEntry("not a regular file")
        if info.st_uid != os.geteuid():
            raise _BadCacheEntry("owned by another user")
        if info.st_mode & 0o077:
            raise _BadCacheEntry("accessible to other users")
        return _read_at_most(fd, MAX_CACHE_BYTES)
    except OSError as error:
        raise _BadCacheEntry(error.strerror) from None
    finally:
        os.close(fd)


def _load_cache_entry(path, server):
    try:
        entry = json.loads(_read_private(path).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise _BadCacheEntry("not JSON") from None
    if not isinstance(entry, dict) or type(entry.get("version")) is not int or entry["version"] != CACHE_VERSION:
        raise _BadCacheEntry(f"not version {CACHE_VERSION}")
    if entry.get("server") != server:
        raise _BadCacheEntry("for another server")
    token = entry.get("token")
    if not isinstance(token, dict) or not isinstance(token.get("secret"), str) or not token["secret"]:
        raise _BadCacheEntry("no secret")
    if _expires_at(token) is None:
        raise _BadCacheEntry("no valid expiresAt")
    skew = entry.get("skew", 0)
    if isinstance(skew, bool) or not isinstance(skew, (int, float)) or abs(skew) > 10 ** 9:
        raise _BadCacheEntry("no valid skew")
    return _Entry(token, skew, entry.get("maxAgeApplied") is True)


def _read_launch(path, server):
    """The launch record, or None when there is none or it cannot be used."""
    try:
        record = json.loads(_read_private(path).decode("utf-8"))
    except (FileNotFoundError, _BadCacheEntry, ValueError, UnicodeDecodeError):
        return None
    if (not isinstance(record, dict) or record.get("server") != server
            or record.get("result") not in ("running", "ok", "failed")
            or isinstance(record.get("startedAt"), bool) or not isinstance(record.get("startedAt"), (int, float))):
        return None
    if not isinstance(record.get("error"), str):
        record["error"] = "no reason recorded"
    return record


def _read_at_most(fd, limit):
    chunks = []
    size = 0
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise _BadCacheEntry("too large")
        chunks.append(chunk)


def _write_private(directory, path, data):
    """Writes path atomically: a new 0600 temp file in the same directory, then a rename."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    temp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def write_cache(server, token):
    """Caches the token document for the normalized `server` (it must carry expiresAt)."""
    _Cache(server).write(_Entry(token))


def read_cache(server):
    """The cached token document for the normalized `server` if it stays valid for more than
    60 s, else None."""
    entry = _Cache(server).read()
    return None if entry is None else entry.token


def forget(server):
    """Deletes the cache entry and launch record of `server`; True if there was an entry. The
    lock file stays: another process may hold it."""
    cache = _Cache(server)
    _unlink(cache.launch_path)
    return _unlink(cache.entry_path)


def forget_all():
    """Deletes every entry and launch record in the cache directory; their number."""
    directory = cache_directory()
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return 0
    except OSError as error:
        raise Token2goError(f"cannot read the cache directory {directory}: {error.strerror}") from None
    removed = 0
    for name in sorted(names):
        if re.fullmatch(r"[0-9a-f]{32}\.(json|launch)", name):
            removed += _unlink(os.path.join(directory, name)) and name.endswith(".json")
    return removed


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as error:
        raise Token2goError(f"cannot delete {path}: {error.strerror}") from None
    return True


def _cached_servers():
    """The server of every readable entry in the cache directory, sorted by file name."""
    directory = cache_directory()
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    except OSError as error:
        raise Token2goError(f"cannot read the cache directory {directory}: {error.strerror}") from None
    found = []
    for name in names:
        if not re.fullmatch(r"[0-9a-f]{32}\.json", name):
            continue
        try:
            server = json.loads(_read_private(os.path.join(directory, name)).decode("utf-8")).get("server")
        except (OSError, _BadCacheEntry, ValueError, UnicodeDecodeError, AttributeError):
            continue
        if isinstance(server, str) and _stem(server) + ".json" == name:
            found.append(server)
    return found


def _expires_at(token):
    value = token.get("expiresAt")
    return _parse_rfc3339(value) if isinstance(value, str) else None


def _parse_rfc3339(text):
    match = _RFC3339.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, offset_hours, offset_minutes = match.groups()
    try:
        if zulu:
            zone = _UTC
        else:
            offset = datetime.timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
            zone = datetime.timezone(-offset if sign == "-" else offset)
        return datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                                 int((fraction or "0")[:6].ljust(6, "0")), tzinfo=zone)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# status and logout


def status(server_url=None):
    """What the cache holds: one dict per cached server (or for the one named), as `status
    --format json` prints them: server, cached, valid (more than 60 s left), and for a cached
    token user (preferred_username, email or sub of a JWT), expiresAt, remainingSeconds (by the
    server's clock) and maxAgeApplied."""
    directory = cache_directory()
    problem = _directory_problem(directory) if _CACHE_SUPPORTED else "this system has no token cache"
    if problem:
        raise Token2goError(problem)
    servers = [normalize_server_url(server_url)] if server_url else _cached_servers()
    rows = []
    for server in servers:
        row = {"server": server, "cached": False, "valid": False}
        path = os.path.join(directory, _stem(server) + ".json")
        try:
            entry = _load_cache_entry(path, server)
        except FileNotFoundError:
            entry = None
        except _BadCacheEntry as bad:
            _note(f"ignoring the cache entry {path}: {bad}")
            entry = None
        if entry is not None:
            remaining = int(entry.remaining().total_seconds())
            row.update(cached=True, valid=remaining > EXPIRY_MARGIN.total_seconds())
            user = _jwt_user(entry.token["secret"])
            if user is not None:
                row["user"] = user
            row.update(expiresAt=_rfc3339(entry.expiry()), remainingSeconds=remaining,
                       maxAgeApplied=entry.max_age_applied)
        rows.append(row)
    return rows


def _jwt_user(secret):
    claims = jwt_claims(secret) or {}
    user = next((claims[k] for k in ("preferred_username", "email", "sub") if isinstance(claims.get(k), str)), None)
    # At most 100 characters, control characters (Unicode Cc) replaced: it goes to a terminal.
    return None if user is None else "".join("?" if ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0 else c for c in user[:100])


def _status_line(row):
    if not row["cached"]:
        return f"{row['server']}  no token cached"
    left = row["remainingSeconds"]
    if row["valid"]:
        state = f"valid, {_duration(left)} left"
    elif left > 0:
        state = f"expiring, {_duration(left)} left"
    else:
        state = f"expired {_duration(-left)} ago"
    max_age = " (no expiry in the token: --max-age)" if row["maxAgeApplied"] else ""
    return f"{row['server']}  user {row.get('user', '-')}  expires {row['expiresAt']}  {state}{max_age}"


def _duration(seconds):
    hours, minutes, rest = seconds // 3600, seconds % 3600 // 60, seconds % 60
    if hours == 0 and minutes == 0:
        return f"{rest}s"
    if hours == 0:
        return f"{minutes}m {rest:02}s"
    return f"{hours}h {minutes:02}m"


# ---------------------------------------------------------------------------------------------
# Command line


class _UsageError(Exception):
    pass


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        """One line and exit 2 (through main), instead of argparse's usage block."""
        raise _UsageError(message)

    def parse_args(self, args=None, namespace=None):
        known = {option for action in self._actions for option in action.option_strings}
        for arg in args or []:
            if arg == "--":
                break
            name = arg.partition("=")[0]
            if name.startswith("-") and name != "-" and name not in known:
                raise _UsageError(_unknown_option(name, known))
        return super().parse_args(args, namespace)


def _unknown_option(typed, known):
    """As token2go says it: the typed option (40 printable characters), and the closest long
    option within two edits."""
    shown = json.dumps("".join(c if "!" <= c <= "~" else "?" for c in typed[:40]))
    closest = min(((_edit_distance(typed, name), name) for name in known), default=(3, ""))
    if typed.startswith("--") and closest[0] <= 2:
        return f"unknown option {shown}: did you mean {closest[1]}?"
    return f"unknown option {shown}"


def _edit_distance(a, b):
    """Levenshtein distance, by characters."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a):
        diagonal, row[0] = row[0], i + 1
        for j, cb in enumerate(b):
            above = row[j + 1]
            row[j + 1] = min(above + 1, row[j] + 1, diagonal + (ca != cb))
            diagonal = above
    return row[len(b)]


def _seconds(minimum):
    def parse(text):
        if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) < minimum:
            kind = "positive whole number" if minimum else "whole number"
            raise argparse.ArgumentTypeError(f"must be a {kind} of seconds: {text!r}")
        return int(text)
    return parse


def _port(text):
    if not re.fullmatch(r"[0-9]{1,5}", text) or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"must be a port between 0 and 65535: {text!r}")
    return int(text)


def _key_size(text):
    if text not in map(str, KEY_SIZES):
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(map(str, KEY_SIZES))}: {text!r}")
    return int(text)


def _prog():
    return os.path.basename(sys.argv[0]) or "token2go_client.py"


def _build_parser():
    parser = _ArgumentParser(
        prog=_prog(),
        usage="%(prog)s [OPTIONS] [SERVER_URL] | status [SERVER_URL] [--format json] | "
              "logout [SERVER_URL | --all]",
        description="Fetch your access token from a token2go server through your browser. "
                    "stdout carries the result and nothing else. `status` shows what is cached, "
                    "`logout` deletes a cached token.",
        epilog="Environment: TOKEN2GO_URL (server when SERVER_URL is omitted), TOKEN2GO_MAX_AGE, "
               "TOKEN2GO_MIN_INTERVAL (defaults of --max-age and --min-interval), BROWSER (command "
               "that opens the URL), XDG_CACHE_HOME (cache location), KUBERNETES_EXEC_INFO (exec-credential "
               "apiVersion; interactive false: never open a browser), TOKEN2GO_HUB_URL and "
               "TOKEN2GO_JUPYTER_PROXY (JupyterHub). Exit status: 0 success, 1 failure, 2 usage error.",
        allow_abbrev=False,
    )
    parser.add_argument("server_url", nargs="?", metavar="SERVER_URL",
                        help="token2go server URL, path prefix allowed (default: $TOKEN2GO_URL)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--format", choices=FORMATS, default="token",
                        help="token (default), json (the whole document), header (Authorization: "
                             "Bearer ...), exec-credential (Kubernetes ExecCredential)")
    output.add_argument("--json", dest="format", action="store_const", const="json", help="same as --format json")
    parser.add_argument("--key-size", type=_key_size, default=DEFAULT_KEY_SIZE, metavar="BITS",
                        help="RSA key size: 2048 (default), 3072 or 4096")
    parser.add_argument("--port", type=_port, default=0,
                        help="callback port on 127.0.0.1 (default 0: the OS picks one)")
    parser.add_argument("--timeout", type=_seconds(1), default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"how long to wait for the browser, or for another sign-in (default {DEFAULT_TIMEOUT})")
    parser.add_argument("--no-browser", action="store_true", help="only print the URL, do not open a browser")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--paste", dest="paste", action="store_const", const=True, default=None,
                      help="paste the block the server shows instead of the loopback callback")
    mode.add_argument("--no-paste", dest="paste", action="store_const", const=False,
                      help="use the loopback callback even over SSH without a display")
    parser.add_argument("--max-age", type=_seconds(0), metavar="SECONDS",
                        help=f"cache a token without expiry this long (default {DEFAULT_MAX_AGE}, 0: never)")
    parser.add_argument("--min-interval", type=_seconds(0), metavar="SECONDS",
                        help=f"open the browser at most once per this many seconds per server "
                             f"(default {DEFAULT_MIN_INTERVAL}, 0: no limit)")
    caching = parser.add_mutually_exclusive_group()
    caching.add_argument("--no-cache", action="store_true", help="neither read nor write the token cache")
    caching.add_argument("--refresh", action="store_true",
                         help="fetch a new token even if one is cached, even within --min-interval")
    caching.add_argument("--cached-only", action="store_true",
                         help="print a valid cached token or fail; never open a browser")
    caching.add_argument("--forget", action="store_true", help="same as logout SERVER_URL")
    parser.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _build_status_parser():
    parser = _ArgumentParser(prog=f"{_prog()} status", allow_abbrev=False,
                             description="Show the cached token of each server (or of SERVER_URL): user, "
                                         "expiry, time left. Exit 0 when a valid token is cached.")
    parser.add_argument("server_url", nargs="?", metavar="SERVER_URL")
    parser.add_argument("--format", choices=("json",), help="json: one object per server, for scripts")
    parser.add_argument("--json", dest="format", action="store_const", const="json", help="same as --format json")
    return parser


def _build_logout_parser():
    parser = _ArgumentParser(prog=f"{_prog()} logout", allow_abbrev=False,
                             description="Delete the cached token of SERVER_URL (default $TOKEN2GO_URL), "
                                         "or of every server.")
    parser.add_argument("server_url", nargs="?", metavar="SERVER_URL")
    parser.add_argument("--all", action="store_true", help="delete every cached token")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv[0] if argv and argv[0] in ("status", "logout") else None
    try:
        if command == "status":
            args = _build_status_parser().parse_args(argv[1:])
            return _run_status(args)
        if command == "logout":
            args = _build_logout_parser().parse_args(argv[1:])
            if args.all and args.server_url:
                raise _UsageError("logout: give SERVER_URL or --all, not both")
            server = None if args.all else normalize_server_url(args.server_url)
            return _run_logout(server)
        args = _build_parser().parse_args(argv)
        if args.forget:
            return _run_logout(normalize_server_url(args.server_url))
        settings = _settings(args.server_url, args.timeout, args.key_size, args.paste, not args.no_cache,
                             refresh=args.refresh, port=args.port, open_browser=not args.no_browser,
                             max_age=args.max_age, min_interval=args.min_interval,
                             cached_only=args.cached_only, cli=True)
    except _UsageError as error:
        return _fail(f"{error}; see --help", 2)
    except Token2goError as error:
        return _fail(error, 2)
    result_fd = _reserve_stdout()
    try:
        entry = _obtain(settings)
        _write_result(result_fd, format_token(entry.token, args.format, skew=entry.skew) + "\n")
    except Token2goError as error:
        return _fail(error, 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 1)
    except OSError as error:
        return _fail(f"cannot write the result: {error.strerror or error}", 1)
    return 0


def _run_status(args):
    try:
        rows = status(args.server_url)
    except Token2goError as error:
        return _fail(error, 1)
    if args.format == "json":
        print(json.dumps(rows, separators=(",", ":")), flush=True)
    else:
        for row in rows:
            print(_status_line(row), flush=True)
    if any(row["valid"] for row in rows):
        return 0
    return _fail(f"no valid token cached for {rows[0]['server'] if args.server_url else 'any server'}", 1)


def _run_logout(server):
    try:
        if server is None:
            _note(f"deleted {forget_all()} cached token(s)")
        else:
            _note("deleted the cached token" if forget(server) else "no cached token")
    except Token2goError as error:
        return _fail(error, 1)
    return 0


def _reserve_stdout():
    """Keeps the real stdout for the result and points file descriptor 1 at stderr. A browser
    started from here inherits descriptor 1; this way it can neither write into the result nor
    hold the pipe open after we exit (`$(...)` and kubectl wait for that pipe to close).
    Returns the result's descriptor, or None when stdout has none (then sys.stdout is used)."""
    try:
        stdout_fd = sys.stdout.fileno()
        result_fd = os.dup(stdout_fd)
    except (AttributeError, OSError, ValueError):
        return None
    try:
        os.dup2(sys.stderr.fileno(), stdout_fd)
    except (AttributeError, OSError, ValueError):
        os.close(result_fd)
        return None
    return result_fd


def _write_result(result_fd, text):
    """Unbuffered, so that a failed write (a closed pipe) is reported once, here."""
    if result_fd is None:
        if sys.stdout is None:
            raise OSError(errno.EBADF, "stdout is closed")
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    data = text.encode("utf-8")
    while data:
        data = data[os.write(result_fd, data):]


def _fail(error, status):
    print(f"token2go: {' '.join(str(error).split())}", file=sys.stderr, flush=True)
    return status


def _note(message):
    print(f"token2go: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
