#!/usr/bin/env python3
"""Independent implementation of the token2go redirect-flow client crypto (OpenSSL via `cryptography`).

  t2g_decrypt.py genkey --bits 2048 --form spki|pkcs1 --private priv.pem --public pub.pem
  t2g_decrypt.py code --public pub.pem
  t2g_decrypt.py decrypt --private priv.pem --url 'http://127.0.0.1:8000/cb?...&key=..&nonce=..&payload=..'
  t2g_decrypt.py decrypt --private priv.pem --params KEY NONCE PAYLOAD
  t2g_decrypt.py decrypt --private priv.pem --paste block.txt   (or - for stdin)

decrypt writes the plaintext bytes to stdout. key = RSA-OAEP(SHA-256, MGF1-SHA-256, empty label),
payload = AES-256-GCM(key, nonce, no AAD), ciphertext || 16-byte tag.
"""
import argparse
import base64
import hashlib
import sys
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

BEGIN = "-----BEGIN TOKEN2GO RESPONSE-----"
END = "-----END TOKEN2GO RESPONSE-----"


def genkey(args):
    key = rsa.generate_private_key(public_exponent=65537, key_size=args.bits)
    with open(args.private, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    fmt = (serialization.PublicFormat.SubjectPublicKeyInfo if args.form == "spki"
           else serialization.PublicFormat.PKCS1)
    with open(args.public, "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM, fmt))


def code(args):
    with open(args.public, "rb") as f:
        data = f.read()
    key = serialization.load_pem_public_key(data)  # reads SPKI and PKCS#1 PEM alike
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    b32 = base64.b32encode(hashlib.sha256(der).digest()).decode().rstrip("=")
    print(f"{b32[:4]}-{b32[4:8]}")


def b64url(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def parts_from_args(args):
    if args.url:
        query = parse_qs(urlsplit(args.url).query, keep_blank_values=True, strict_parsing=True)
        values = []
        for name in ("key", "nonce", "payload"):
            if len(query.get(name, [])) != 1:
                sys.exit(f"URL needs exactly one {name} parameter")
            values.append(query[name][0])
        return [base64.b64decode(v, validate=True) for v in values]
    if args.params:
        return [base64.b64decode(v, validate=True) for v in args.params]
    text = sys.stdin.read() if args.paste == "-" else open(args.paste).read()
    lines = [line.strip() for line in text.strip().splitlines()]
    if lines[0] != BEGIN or lines[-1] != END:
        sys.exit("not a TOKEN2GO RESPONSE block")
    parts = "".join(lines[1:-1]).split(".")
    if len(parts) != 3:
        sys.exit("expected key.nonce.payload")
    return [b64url(p) for p in parts]


def decrypt(args):
    with open(args.private, "rb") as f:
        private = serialization.load_pem_private_key(f.read(), password=None)
    wrapped, nonce, payload = parts_from_args(args)
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    aes_key = private.decrypt(wrapped, oaep)
    if len(aes_key) != 32 or len(nonce) != 12:
        sys.exit(f"bad sizes: key {len(aes_key)} bytes, nonce {len(nonce)} bytes")
    sys.stdout.buffer.write(AESGCM(aes_key).decrypt(nonce, payload, None))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("genkey")
    g.add_argument("--bits", type=int, required=True)
    g.add_argument("--form", choices=("spki", "pkcs1"), required=True)
    g.add_argument("--private", required=True)
    g.add_argument("--public", required=True)
    c = sub.add_parser("code")
    c.add_argument("--public", required=True)
    d = sub.add_parser("decrypt")
    d.add_argument("--private", required=True)
    src = d.add_mutually_exclusive_group(required=True)
    src.add_argument("--url")
    src.add_argument("--params", nargs=3, metavar=("KEY", "NONCE", "PAYLOAD"))
    src.add_argument("--paste")
    args = parser.parse_args()
    {"genkey": genkey, "code": code, "decrypt": decrypt}[args.command](args)


if __name__ == "__main__":
    main()
