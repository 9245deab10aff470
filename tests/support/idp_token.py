#!/usr/bin/env python3
"""Is this access token one the identity provider of the real-parts tests issued?

Usage: idp_token.py ISSUER TOKEN   (prints the token's claims as JSON; exit 0 when the provider
                                    vouches for it, 1 with one line on stderr when not)

The proof asks the provider itself, through its discovery document:
- an opaque token: the provider's userinfo endpoint must accept it (it answers with the user's
  claims; any other token gets 401);
- a JWT access token (oidc-provider issues one for a resource indicator): userinfo refuses it by
  design (its audience is the resource, not userinfo) and the introspection endpoint refuses
  structured tokens, so its RS256 signature is verified against the provider's JWKS, and its
  `iss` must be the issuer and its `exp` in the future.
Also imported by kube_api_standin.py. Standard library and `cryptography`.
"""

import base64
import json
import sys
import time
import urllib.error
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


class Refused(Exception):
    pass


OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get_json(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with OPENER.open(request, timeout=10) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        raise Refused(f"{url} answered {error.code}") from None


def b64url(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_jwt(issuer, metadata, token):
    head_b64, claims_b64, signature_b64 = token.split(".")
    head = json.loads(b64url(head_b64))
    claims = json.loads(b64url(claims_b64))
    if head.get("alg") != "RS256":
        raise Refused(f"unexpected alg {head.get('alg')!r}")
    keys = get_json(metadata["jwks_uri"])["keys"]
    key = next((k for k in keys if k.get("kid") == head.get("kid") and k.get("kty") == "RSA"), None)
    if key is None:
        raise Refused("no key in the provider's JWKS has the token's kid")
    public = rsa.RSAPublicNumbers(
        int.from_bytes(b64url(key["e"]), "big"), int.from_bytes(b64url(key["n"]), "big")
    ).public_key()
    try:
        public.verify(b64url(signature_b64), f"{head_b64}.{claims_b64}".encode("ascii"),
                      padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise Refused("the signature does not verify with the provider's key") from None
    if claims.get("iss") != issuer:
        raise Refused("the token's iss is not the provider")
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= time.time():
        raise Refused("the token has expired")
    return claims


def check(issuer, token):
    """The token's claims (userinfo's answer, or the verified JWT's), or Refused."""
    metadata = get_json(f"{issuer}/.well-known/openid-configuration")
    if token.count(".") == 2 and token.startswith("eyJ"):
        return verify_jwt(issuer, metadata, token)
    return get_json(metadata["userinfo_endpoint"], {"Authorization": f"Bearer {token}"})


def main(argv):
    if len(argv) != 3:
        print("idp_token: usage: idp_token.py ISSUER TOKEN", file=sys.stderr)
        return 2
    try:
        claims = check(argv[1], argv[2])
    except (Refused, OSError, ValueError, KeyError) as error:
        print(f"idp_token: refused: {error}", file=sys.stderr)
        return 1
    print(json.dumps(claims))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
