#!/usr/bin/env python3
"""token2go client: fetch your OAuth access token from a token2go server, in a notebook or a shell.

In a notebook, with this file next to it:

    import requests
    from token2go_client import Token2goAuth
    session = requests.Session()
    session.auth = Token2goAuth("https://token2go.example.com")
    items = session.get("https://api.example.com/items").json()

In a shell (stdout carries the result and nothing else):

    python3 token2go_client.py https://token2go.example.com
    curl -H "$(python3 token2go_client.py --format header)" https://api.example.com/items

How it works: the client listens on 127.0.0.1 for one callback, generates an RSA key pair, and
sends the browser to the server's token redirect flow with the public key. The server encrypts
the token for that key (RSA-OAEP-SHA-256 wrapping an AES-256-GCM key) and the browser brings the
result back to the listener. With --paste (the default over SSH without a display) the server
shows the encrypted result as a block to paste here instead. Tokens with an expiry are cached per
server in $XDG_CACHE_HOME/token2go or ~/.cache/token2go, readable by their owner only; the Rust
`token2go` client shares that cache.

Library: get_token(), bearer(), Token2goAuth; every failure raises Token2goError.
Needs Python 3.8+ and the `cryptography` package.
"""

import argparse
import base64
import binascii
import datetime
import errno
import hashlib
import hmac
import http.server
import json
import os
import re
import secrets
import socketserver
import stat
import sys
import threading
import urllib.parse
import webbrowser

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
__all__ = ["Token2goAuth", "Token2goError", "bearer", "get_token"]

KEY_SIZES = (2048, 3072, 4096)
FORMATS = ("token", "json", "header", "exec-credential")
DEFAULT_TIMEOUT = 180
DEFAULT_KEY_SIZE = 2048

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

# RSA-OAEP with SHA-256 and MGF1-SHA-256, empty label: how the server wraps the AES key.
_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)

# The cache's safety checks (owner, mode, no symlinks) need POSIX; elsewhere nothing is cached.
_CACHE_SUPPORTED = hasattr(os, "geteuid") and hasattr(os, "O_NOFOLLOW")

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))\Z"
)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*\Z")


class Token2goError(Exception):
    """Any failure of the client. The message is one line and never contains the token."""


# ---------------------------------------------------------------------------------------------
# Library API


def get_token(server_url=None, timeout=DEFAULT_TIMEOUT, key_size=DEFAULT_KEY_SIZE, paste=None, cache=True,
              *, refresh=False, port=0, open_browser=True):
    """Returns the decrypted token document: ``secret``, ``fingerprint``, ``timestamp`` and,
    for a JWT with an expiry, ``expiresAt``.

    server_url: the token2go server, path prefix allowed; None means ``$TOKEN2GO_URL``.
    timeout: seconds to wait for the browser's callback (None waits for ever); paste mode waits
        for the paste as long as input() does.
    paste: True reads a pasted block with input(), False uses the loopback callback, None
        chooses paste only over SSH without a display and without ``$BROWSER``.
    cache: False neither reads nor writes the cache; refresh=True skips the read only.
    port: the callback port on 127.0.0.1, 0 lets the OS pick.
    open_browser: False only prints the URL (on stderr).
    """
    server = normalize_server_url(server_url)
    if key_size not in KEY_SIZES:
        raise Token2goError(f"key size must be one of {', '.join(map(str, KEY_SIZES))}")
    if timeout is not None and not timeout > 0:
        raise Token2goError("timeout must be a positive number of seconds")
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise Token2goError("port must be between 0 and 65535")
    use_cache = cache and _CACHE_SUPPORTED
    if use_cache and not refresh:
        cached = read_cache(server)
        if cached is not None:
            return cached
    if paste is None:
        paste = paste_by_default(os.environ)
        if paste:
            _note("SSH session without a display or BROWSER: using paste mode "
                  "(--no-paste or paste=False for the loopback callback)")
    if paste:
        token = _paste_flow(server, key_size, open_browser)
    else:
        token = _callback_flow(server, timeout, key_size, port, open_browser)
    if use_cache and _expires_at(token) is not None:
        try:
            write_cache(server, token)
        except OSError as error:
            _note(f"could not write the cache entry: {error.strerror or error}")
    return token


def bearer(server_url=None):
    """Returns ``"Bearer <secret>"`` for an Authorization header."""
    return "Bearer " + get_token(server_url)["secret"]


class Token2goAuth:
    """Authentication for ``requests``: ``session.auth = Token2goAuth(url)``.

    Sets ``Authorization: Bearer <secret>`` on each request and fetches the token again when it
    expires within 60 s. Extra keyword arguments go to get_token().
    """

    def __init__(self, server_url=None, **options):
        self.server_url = server_url
        self._options = options
        self._token = None
        self._lock = threading.Lock()

    def __call__(self, request):
        request.headers["Authorization"] = "Bearer " + self._secret()
        return request

    def _secret(self):
        with self._lock:
            if self._token is None or _expires_soon(self._token):
                self._token = get_token(self.server_url, **self._options)
            return self._token["secret"]


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


def format_token(token, output_format, environ=None):
    """The CLI's result line for `output_format` (one of FORMATS), without the newline."""
    secret = token["secret"]
    if output_format == "token":
        return secret
    if output_format == "json":
        return json.dumps(token, separators=(",", ":"))
    if output_format == "header":
        return "Authorization: Bearer " + secret
    if output_format == "exec-credential":
        status = {"token": secret}
        if "expiresAt" in token:
            status["expirationTimestamp"] = token["expiresAt"]
        credential = {
            "apiVersion": _exec_api_version(os.environ if environ is None else environ),
            "kind": "ExecCredential",
            "status": status,
        }
        return json.dumps(credential, separators=(",", ":"))
    raise Token2goError(f"format must be one of {', '.join(FORMATS)}")


def _exec_api_version(environ):
    """kubectl passes the ExecCredential version it wants in KUBERNETES_EXEC_INFO."""
    try:
        version = json.loads(environ.get("KUBERNETES_EXEC_INFO", "")).get("apiVersion")
    except (ValueError, AttributeError):
        return DEFAULT_EXEC_API_VERSION
    return version if isinstance(version, str) and version else DEFAULT_EXEC_API_VERSION


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
    """Checks and decrypts the four fields of a callback (query or form)."""
    missing = [name for name in RESPONSE_FIELDS if name not in fields]
    if missing:
        raise Token2goError(f"the callback lacks {', '.join(missing)}")
    if not hmac.compare_digest(fields["state"].encode("utf-8"), expected_state.encode("utf-8")):
        raise Token2goError("state mismatch: the callback does not answer this request")
    wrapped_key, nonce, ciphertext = (_b64decode(name, fields[name]) for name in ("key", "nonce", "payload"))
    return decrypt(private_key, wrapped_key, nonce, ciphertext)


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
# The two flows


def _callback_flow(server, timeout, key_size, port, open_browser):
    listener = _CallbackServer(port)
    try:
        private_key = generate_key(key_size)
        state = _random_b64url(32)
        target = f"http://{listener.expected_host}{listener.path}"
        url = flow_url(server, target, state, private_key.public_key(), key_size, response_mode="form_post")
        listener.start(private_key, state, done_url=f"{server}/flow/redirect/done")
        _show_url(url, open_browser, "to fetch a token")
        return listener.wait(timeout)
    finally:
        listener.close()


def _paste_flow(server, key_size, open_browser):
    private_key = generate_key(key_size)
    url = flow_url(server, OOB_TARGET, _random_b64url(32), private_key.public_key(), key_size)
    _show_url(url, open_browser, "to fetch a token as a block to paste here")
    _note(f"verification code: {verification_code(private_key.public_key())} (the page must show the same code)")
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
    if opening:
        _open_browser_in_background(url)


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
    (so it works inside a running Jupyter kernel) and wait() blocks the caller until the first
    GET or POST on the random path has been answered: that request decides the outcome."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port):
        try:
            super().__init__(("127.0.0.1", port), _CallbackHandler)
        except OSError as error:
            raise Token2goError(f"cannot listen on 127.0.0.1:{port}: {error.strerror or error}") from None
        self.expected_host = f"127.0.0.1:{self.server_address[1]}"
        self.path = "/" + _random_b64url(16)
        self.done_url = None
        self._private_key = None
        self._state = None
        self._claim_lock = threading.Lock()
        self._claimed = False
        self._finished = threading.Event()
        self._token = None
        self._error = None
        self._thread = None

    def start(self, private_key, state, done_url):
        self._private_key = private_key
        self._state = state
        self.done_url = done_url
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="token2go-callback", daemon=True)
        self._thread.start()

    def wait(self, timeout):
        if not self._finished.wait(timeout):
            raise Token2goError(f"no token within {timeout:g} s: the browser did not come back "
                                f"(if it shows an error page, that says why)")
        if self._error is not None:
            raise self._error
        return self._token

    def close(self):
        if self._thread is not None:
            self.shutdown()
        self.server_close()

    def claim(self):
        """True for the first delivery only."""
        with self._claim_lock:
            first = not self._claimed
            self._claimed = True
            return first

    def open_callback(self, fields):
        return open_callback(self._private_key, self._state, fields)

    def finish(self, token=None, error=None):
        self._token = token
        self._error = error
        self._finished.set()

    def handle_error(self, request, client_address):
        """A browser that drops its connection is no reason for a traceback on stderr."""


class _CallbackHandler(http.server.BaseHTTPRequestHandler):
    server_version = "token2go-client"
    sys_version = ""
    # An idle connection (a browser's speculative preconnect) must not hold a thread for ever.
    timeout = 10

    def log_message(self, format, *args):
        """Silent: request lines carry the (encrypted) response in their query."""

    def do_GET(self):
        if self._addressed_to_us():
            self._deliver(lambda: dict(urllib.parse.parse_qsl(self.path.partition("?")[2], keep_blank_values=True)))

    def do_POST(self):
        if self._addressed_to_us():
            self._deliver(self._form_fields)

    def __getattr__(self, name):
        # BaseHTTPRequestHandler answers 501 to a method it finds no do_<METHOD> for; other
        # paths and hosts must get 404 whatever the method, and the callback path 405.
        if name.startswith("do_"):
            return self._other_method
        raise AttributeError(name)

    def _other_method(self):
        if self._addressed_to_us():
            self._reply(405, "Method Not Allowed")

    def _addressed_to_us(self):
        """The random path with Host exactly 127.0.0.1:PORT (so that no web page can reach the
        listener through DNS rebinding); anything else gets 404 and changes nothing."""
        path = self.path.partition("?")[0].encode("latin-1")
        if (self.headers.get_all("Host") == [self.server.expected_host]
                and hmac.compare_digest(path, self.server.path.encode("ascii"))):
            return True
        self._reply(404, "Not Found")
        return False

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
# Cache: one JSON file per server, shared with the Rust client


class _BadCacheEntry(Exception):
    pass


def cache_directory():
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "token2go")


def cache_file(server):
    name = hashlib.sha256(server.encode("utf-8")).hexdigest()[:32] + ".json"
    return os.path.join(cache_directory(), name)


def read_cache(server):
    """The cached token for the normalized `server` if it expires in more than 60 s, else None.
    A file that is unsafe or not ours is reported on stderr and treated as a miss."""
    path = cache_file(server)
    try:
        token = _load_cache_entry(path, server)
    except FileNotFoundError:
        return None
    except _BadCacheEntry as bad:
        _note(f"ignoring the cache entry {path}: {bad}")
        return None
    return None if _expires_soon(token) else token


def _load_cache_entry(path, server):
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
        data = _read_at_most(fd, MAX_CACHE_BYTES)
    except OSError as error:
        raise _BadCacheEntry(error.strerror) from None
    finally:
        os.close(fd)
    try:
        entry = json.loads(data.decode("utf-8"))
    except ValueError:
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
    return token


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


def write_cache(server, token):
    """Writes the entry atomically: a new 0600 temp file in the same directory, then a rename."""
    directory = cache_directory()
    os.makedirs(directory, mode=0o700, exist_ok=True)
    path = cache_file(server)
    data = json.dumps({"version": CACHE_VERSION, "server": server, "token": token}).encode("utf-8")
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


def forget(server):
    """Deletes the cache entry of `server`; True if there was one."""
    path = cache_file(server)
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as error:
        raise Token2goError(f"cannot delete the cache entry {path}: {error.strerror}") from None
    return True


def _expires_at(token):
    value = token.get("expiresAt")
    return _parse_rfc3339(value) if isinstance(value, str) else None


def _expires_soon(token):
    """True when the token expires within 60 s; a token without expiry never does."""
    expires_at = _expires_at(token)
    now = datetime.datetime.now(datetime.timezone.utc)
    return expires_at is not None and expires_at - now <= EXPIRY_MARGIN


def _parse_rfc3339(text):
    match = _RFC3339.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, offset_hours, offset_minutes = match.groups()
    try:
        if zulu:
            zone = datetime.timezone.utc
        else:
            offset = datetime.timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
            zone = datetime.timezone(-offset if sign == "-" else offset)
        return datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                                 int((fraction or "0")[:6].ljust(6, "0")), tzinfo=zone)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Command line


class _UsageError(Exception):
    pass


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        """One line and exit 2 (through main), instead of argparse's usage block."""
        raise _UsageError(message)


def _positive_seconds(text):
    if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) == 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number of seconds: {text!r}")
    return int(text)


def _port(text):
    if not re.fullmatch(r"[0-9]{1,5}", text) or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"must be a port between 0 and 65535: {text!r}")
    return int(text)


def _key_size(text):
    if text not in map(str, KEY_SIZES):
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(map(str, KEY_SIZES))}: {text!r}")
    return int(text)


def _build_parser():
    parser = _ArgumentParser(
        prog=os.path.basename(sys.argv[0]) or "token2go_client.py",
        description="Fetch your access token from a token2go server through your browser. "
                    "stdout carries the result and nothing else.",
        epilog="Environment: TOKEN2GO_URL (server when SERVER_URL is omitted), BROWSER (command that "
               "opens the URL), XDG_CACHE_HOME (cache location), KUBERNETES_EXEC_INFO (exec-credential "
               "apiVersion). Exit status: 0 success, 1 failure, 2 usage error.",
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
    parser.add_argument("--timeout", type=_positive_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"how long to wait for the browser (default {DEFAULT_TIMEOUT})")
    parser.add_argument("--no-browser", action="store_true", help="only print the URL, do not open a browser")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--paste", dest="paste", action="store_const", const=True, default=None,
                      help="paste the block the server shows instead of the loopback callback")
    mode.add_argument("--no-paste", dest="paste", action="store_const", const=False,
                      help="use the loopback callback even over SSH without a display")
    caching = parser.add_mutually_exclusive_group()
    caching.add_argument("--no-cache", action="store_true", help="neither read nor write the token cache")
    caching.add_argument("--refresh", action="store_true", help="fetch a new token even if one is cached")
    caching.add_argument("--forget", action="store_true", help="delete the cached token of the server and exit")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv=None):
    try:
        args = _build_parser().parse_args(argv)
        server = normalize_server_url(args.server_url)
    except (_UsageError, Token2goError) as error:
        return _fail(error, 2)
    result_fd = _reserve_stdout()
    try:
        if args.forget:
            _note("deleted the cached token" if forget(server) else "no cached token")
            return 0
        token = get_token(server, timeout=args.timeout, key_size=args.key_size, paste=args.paste,
                          cache=not args.no_cache, refresh=args.refresh, port=args.port,
                          open_browser=not args.no_browser)
        _write_result(result_fd, format_token(token, args.format) + "\n")
    except Token2goError as error:
        return _fail(error, 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 1)
    except OSError as error:
        return _fail(f"cannot write the result: {error.strerror or error}", 1)
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
