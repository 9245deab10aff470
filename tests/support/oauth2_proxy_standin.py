#!/usr/bin/env python3
"""An oauth2-proxy stand-in for the nginx recipe's real-parts test (tests/tools/realparts_nginx.rs).

Usage: oauth2_proxy_standin.py PORT ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URL LOG

Real oauth2-proxy is not in any package registry reachable from the test machines (it ships as
a Go binary and container image from GitHub and quay.io). This stand-in does what oauth2-proxy
does at the edges the recipe depends on, each as oauth2-proxy's documentation describes it
(https://oauth2-proxy.github.io/oauth2-proxy/, pages "Features / Endpoints", "Configuration /
Overview" for the command line options, "Configuration / Integration" for nginx auth_request),
with a real OpenID Connect authorization code flow against the identity provider at ISSUER:

- `/oauth2/sign_in` and `/oauth2/start` (page "Endpoints": sign_in is "the login page", start "a
  URL that will redirect to start the OAuth cycle"): run as with `--skip-provider-button`, a 302
  to the provider's authorization endpoint, with a CSRF cookie `_oauth2_proxy_csrf` and the page
  to return to in `state`. That page comes from the `X-Auth-Request-Redirect` request header,
  which the nginx example of page "Integration" sets to `$request_uri` on `location /oauth2/`
  (auth_request mode "requires --reverse-proxy"), else from `rd`; only a path on this host is
  accepted (oauth2-proxy refuses redirects to other domains unless whitelisted).
- `/oauth2/callback` ("the URL used at the end of the OAuth cycle"): checks state against the CSRF
  cookie, redeems the code at the provider's token endpoint (client_secret_basic), sets the
  session cookie `_oauth2_proxy` and answers 302 with the whole page to return to in `Location`
  (for a token2go flow URL, about 1 to 2 KB). oauth2-proxy's default cookie session store keeps
  the encrypted session (access, ID and refresh token) in the cookie itself and splits it into
  `_oauth2_proxy_0`, `_1`, ... at the browsers' 4 KB limit; users report 6 KB sessions
  (github.com/oauth2-proxy/oauth2-proxy/issues/1993), and Microsoft Entra ID or Keycloak tokens
  make one full 4 KB cookie common. The stand-in keeps the session in memory and pads the
  cookie's value to 4000 bytes, so its callback answer has the size a real one has then.
- `/oauth2/auth` ("only returns a 202 Accepted response or a 401 Unauthorized response; for use
  with the Nginx auth_request directive"): 202 for a valid session with, as with
  `--set-xauthrequest --pass-access-token`, `X-Auth-Request-User`, `-Email`,
  `-Preferred-Username` and `-Access-Token` ("--set-xauthrequest ... When used with
  --pass-access-token, X-Auth-Request-Access-Token is added to response headers"); 401 otherwise.
  The answer carries only these headers, never copies of the request's: a client cannot make it
  name another user or token (real oauth2-proxy builds them from the session alone too).

Each request is appended to LOG as a JSON line {"path", "status"}; tokens and cookies are never
written. Standard library only. Stops on SIGTERM.
"""

import base64
import http.server
import json
import secrets
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request

COOKIE = "_oauth2_proxy"
CSRF_COOKIE = "_oauth2_proxy_csrf"
COOKIE_SIZE = 4000
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get_json(url, data=None, headers=None):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with OPENER.open(request, timeout=10) as response:
        return json.loads(response.read().decode("utf-8"))


def claims_of(id_token):
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, headers=()):
        with open(self.server.log, "a", encoding="utf-8") as log:
            log.write(json.dumps({"path": self.path.split("?")[0], "status": status}) + "\n")
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def cookie(self, name):
        for part in (self.headers.get("Cookie") or "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
        return None

    def session(self):
        value = self.cookie(COOKIE) or ""
        return self.server.sessions.get(value.split(".")[0])

    def do_GET(self):
        path, _, query = self.path.partition("?")
        params = urllib.parse.parse_qs(query)
        if path in ("/oauth2/sign_in", "/oauth2/start"):
            return self.start(self.headers.get("X-Auth-Request-Redirect") or params.get("rd", ["/"])[0])
        if path == "/oauth2/callback":
            return self.callback(params)
        if path == "/oauth2/auth":
            return self.auth()
        return self.reply(404)

    def start(self, back):
        # Only a path on this host, as oauth2-proxy's redirect validation allows by default.
        if not back.startswith("/") or back.startswith("//"):
            back = "/"
        nonce = secrets.token_urlsafe(16)
        metadata = self.server.metadata
        location = metadata["authorization_endpoint"] + "?" + urllib.parse.urlencode({
            "response_type": "code", "client_id": self.server.client_id,
            "redirect_uri": self.server.redirect_url, "scope": "openid profile email",
            "state": f"{nonce}:{back}",
        })
        self.reply(302, [("Location", location),
                         ("Set-Cookie", f"{CSRF_COOKIE}={nonce}; Path=/; Max-Age=900; HttpOnly; Secure")])

    def callback(self, params):
        nonce, _, back = (params.get("state") or [""])[0].partition(":")
        if not nonce or nonce != self.cookie(CSRF_COOKIE) or "code" not in params:
            return self.reply(403)
        basic = base64.b64encode(f"{self.server.client_id}:{self.server.client_secret}".encode()).decode()
        try:
            tokens = get_json(self.server.metadata["token_endpoint"], urllib.parse.urlencode({
                "grant_type": "authorization_code", "code": params["code"][0],
                "redirect_uri": self.server.redirect_url,
            }).encode("ascii"), {"Authorization": f"Basic {basic}"})
        except (urllib.error.URLError, ValueError):
            return self.reply(500)
        claims = claims_of(tokens["id_token"])
        if "email" not in claims or "preferred_username" not in claims:
            # As oauth2-proxy's OIDC provider does when the ID token lacks the email: the rest of
            # the claims from the provider's userinfo endpoint.
            try:
                claims.update(get_json(self.server.metadata["userinfo_endpoint"], None,
                                       {"Authorization": f"Bearer {tokens['access_token']}"}))
            except (urllib.error.URLError, ValueError):
                return self.reply(500)
        key = secrets.token_urlsafe(24)
        self.server.sessions[key] = {
            "access_token": tokens["access_token"],
            "user": claims.get("sub"),
            "email": claims.get("email", ""),
            "preferred_username": claims.get("preferred_username", claims.get("sub")),
        }
        value = key + "." + secrets.token_urlsafe(COOKIE_SIZE)[: COOKIE_SIZE - len(key) - 1]
        self.reply(302, [
            ("Location", back),
            ("Set-Cookie", f"{COOKIE}={value}; Path=/; Max-Age=604800; HttpOnly; Secure"),
            ("Set-Cookie", f"{CSRF_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure"),
        ])

    def auth(self):
        session = self.session()
        if session is None:
            return self.reply(401)
        self.reply(202, [
            ("X-Auth-Request-User", session["user"]),
            ("X-Auth-Request-Email", session["email"]),
            ("X-Auth-Request-Preferred-Username", session["preferred_username"]),
            ("X-Auth-Request-Access-Token", session["access_token"]),
        ])


def main(argv):
    if len(argv) != 7:
        print("oauth2_proxy_standin: usage: oauth2_proxy_standin.py PORT ISSUER CLIENT_ID "
              "CLIENT_SECRET REDIRECT_URL LOG", file=sys.stderr)
        return 2
    port, issuer = int(argv[1]), argv[2]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.metadata = get_json(f"{issuer}/.well-known/openid-configuration")
    server.client_id, server.client_secret, server.redirect_url, server.log = argv[3:7]
    server.sessions = {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
