#!/usr/bin/env python3
"""Writes the committed seed corpus of each fuzz target under tests/fuzz/corpus/<target>/.

Deterministic and stdlib only, so a reviewer can regenerate the seeds and diff them. Each seed
is a small, valid or almost valid input that shows the fuzzer the shape of the format; the mode
bytes match the targets' `mode` byte in tests/fuzz/src/. Files whose name starts with `seed-`
belong to this script; any other file in a corpus folder (an input of a fixed finding) is kept.
Usage: python3 tests/fuzz/make_seeds.py
"""

import base64
import hashlib
import os
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))

# The fixed test key (src/test_keys.rs FIXED_2048), SubjectPublicKeyInfo in PEM.
with open(os.path.join(HERE, "..", "support", "public-key-rsa2048.pem")) as key_file:
    SPKI_PEM = key_file.read()
SPKI_DER = base64.b64decode("".join(SPKI_PEM.strip().splitlines()[1:-1]))
# The BIT STRING of a 2048-bit SubjectPublicKeyInfo holds the PKCS#1 RSAPublicKey from byte 24.
PKCS1_DER = SPKI_DER[24:]


def pem(label, der):
    body = base64.b64encode(der).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""])


PKCS1_PEM = pem("RSA PUBLIC KEY", PKCS1_DER)
EC_PEM = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2vQLk0XoShmvkD9c3Q1BGLap8KjX
w4JZyP7m+wA07tRGwNM/FFTTnr7qyAWs35/2Y4gzGm8WEVFAkQFPpivj2A==
-----END PUBLIC KEY-----
"""


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims):
    header = b64url(b'{"alg":"RS256"}')
    return f"{header}.{b64url(claims.encode())}.c2ln"


def flow_query(target, state="st&ate", key=SPKI_PEM, kind="rsa2048-rfc5280-x509-pem", extra=""):
    q = urllib.parse.urlencode(
        {"target": target, "state": state, "publicKeyType": kind, "publicKey": key},
        quote_via=urllib.parse.quote,
    )
    return q + extra


def head(target, headers=(), method="GET", version="HTTP/1.1"):
    lines = [f"{method} {target} {version}", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode()


def sealed_block():
    # Not a real encryption: the shapes of one (256-byte key, 12-byte nonce, payload + tag).
    key = hashlib.sha512(b"key").digest() * 4
    nonce = hashlib.sha256(b"nonce").digest()[:12]
    payload = hashlib.sha256(b"payload").digest() * 2
    return key, nonce, payload


def seeds():
    key, nonce, payload = sealed_block()
    body = ".".join(b64url(p) for p in (key, nonce, payload))
    wrapped = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    block = f"-----BEGIN TOKEN2GO RESPONSE-----\n{wrapped}\n-----END TOKEN2GO RESPONSE-----"
    params = "\n".join(base64.b64encode(p).decode() for p in (key, nonce, payload))

    return {
        "request_head": [
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /token?x=1 HTTP/1.0\r\n\r\n",
            b"GET / HTTP/1.1\nHost: a\nX-Tutu:  v 1 \t\n\n",
            b"\r\n\r\nHEAD /health HTTP/1.1\r\nhost: a\r\nConnection: close\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
            b"GET / HTTP/1.1\r\nHost: a\r\ncontent-length: 00, 0\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
            b"GET /\r\n",
            b"GET http://h:80/p?q HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: \xff\xfe\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /" + b"a" * 60 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * 6 + b"\r\n",
        ],
        "query": [
            b"a=1&b=x+y&a=%2F%e2%82%AC&flag&=v&&",
            b"state=%zz&x=%4",
            b"%1B[31m=%ff&pretty",
            flow_query("http://127.0.0.1:8000/cb?x=1").encode(),
            b"k=a=b&k=%C3%BC%c3%bc",
        ],
        "redirect_target": [
            b"http://127.0.0.1:8000/cb?x=1",
            b"http://[::1]:8765/cb",
            b"http://localhost/a%20b/~user?next=%2Fhome&q=a/b?c",
            b"https://hub.example.com/user/alice/token",
            b"http://intranet.example.com:8080/cb/x",
            b"https://a.example",
            b"http://127.0.0.1@evil.com/#x",
            b"http://127.0.0.1/%2e%2e/a/./b",
            b"http://0x7f.0.0.1:080/",
            b"HTTP://LOCALHOST./",
            b"urn:ietf:wg:oauth:2.0:oob",
        ],
        "public_key": [
            b"\x00\x00" + SPKI_PEM.encode(),
            b"\x00\x01" + PKCS1_PEM.encode(),
            b"\x00\x06" + SPKI_PEM.replace("\n", "\r\n").encode(),
            b"\x01\x00" + SPKI_DER,
            b"\x02\x02" + PKCS1_DER,
            b"\x00\x00" + EC_PEM.encode(),
            b"\x00\x00-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
            b"\x00\x00-----BEGIN PUBLIC KEY-----\nProc-Type: 4\n\nAAAA\n-----END PUBLIC KEY-----\n",
        ],
        "jwt": [
            b"\x00" + jwt('{"exp":1700000000}').encode(),
            b"\x00" + (jwt('{"exp":1}') + "==").encode(),
            b"\x00Bearer opaque-token",
            b"\x00a.b",
            b'\x01{"exp":1700000000.9,"sub":"x"}',
            b'\x01{"exp":"1700000000"}',
            b'\x01{"exp":1e300}',
            b"\x01[1,2]",
            b'\x01{"exp":253402300799,"n":{"a":[null,true,-0.0]}}',
        ],
        "paste_block": [
            b"\x00" + block.encode(),
            b"\x00" + block.replace("\n", "\r\n").encode() + b"\n",
            b"\x01" + body.encode(),
            b"\x01AAAA.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAA",
            b"\x02" + params.encode(),
            b"\x02AAAA\nAAAAAAAAAAAAAAAA\nAAAAAAAAAAAAAAAAAAAAAAAA",
        ],
        "router": [
            head("/"),
            head("/token"),
            head("/token", method="HEAD"),
            head("/token", ["Authorization: Bearer abc"]),
            head("/echo?pretty&a=%41", ["X-Tutu: 1"]),
            head("/health", version="HTTP/1.0"),
            head("/metrics"),
            head("/flow/redirect/token?" + flow_query("http://127.0.0.1:8000/cb?x=1")),
            head(
                "/flow/redirect/token?"
                + flow_query("http://localhost:8765/cb", extra="&responseMode=form_post")
            ),
            head("/flow/redirect/token?" + flow_query("urn:ietf:wg:oauth:2.0:oob", key=PKCS1_PEM)),
            head(
                "/flow/redirect/token?"
                + flow_query("https://hub.example.com/user/alice", kind="rsa2048-rfc8017-pksc1-pem")
            ),
            head("/flow/redirect/token?target=http://evil.example/&state=&publicKeyType=x&publicKey=y"),
            head("/flow/redirect/token?target=%zz"),
            head("/flow/redirect/done"),
            head("/swagger-ui/swagger-ui-bundle.js", ["Accept-Encoding: gzip;q=1, *;q=0"]),
            head("/swagger-ui/swagger-ui.css"),
            head("/swagger-ui"),
            head("/swagger-ui/index.html"),
            head("/favicon.ico"),
            head("/static/page.js"),
            head("/token", method="POST"),
            head("/nope"),
        ],
    }


def main():
    for target, inputs in seeds().items():
        folder = os.path.join(HERE, "corpus", target)
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.startswith("seed-"):
                os.remove(os.path.join(folder, name))
        for i, data in enumerate(inputs):
            with open(os.path.join(folder, f"seed-{i:02d}"), "wb") as f:
                f.write(data)
        print(f"{target}: {len(inputs)} seeds")


if __name__ == "__main__":
    main()
