#!/usr/bin/env python3
"""A Kubernetes API server stand-in for kubectl in the real-parts tests, over TLS.

Usage: kube_api_standin.py PORT CERT KEY ISSUER LOG

Serves https://127.0.0.1:PORT with the certificate CERT (key KEY) and accepts a request only
with `Authorization: Bearer TOKEN` where TOKEN is one the identity provider at ISSUER vouches for
(idp_token.py: its userinfo endpoint, or for a JWT its JWKS), as an API server whose OIDC
authenticator trusts that issuer would; anything else gets 401 with a Status object, as the
real API server answers. It answers what `kubectl get pods` asks: the discovery documents
(/api, /apis, /api/v1) and the pods of a namespace (one pod, named after the user). Each request
is appended to LOG as a JSON line {"path", "user"} (user null when refused); tokens are never
written. Standard library plus idp_token.py (cryptography). Stops on SIGTERM.
"""

import http.server
import json
import os
import signal
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import idp_token  # noqa: E402  (beside this file)

API_VERSIONS = {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
API_GROUPS = {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
CORE_V1 = {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": [{
    "name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
    "verbs": ["get", "list"], "shortNames": ["po"]}]}


def pod_list(user):
    return {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": [{
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": f"pod-of-{user}", "namespace": "default",
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"containers": [{"name": "main", "image": "example"}]},
        "status": {"phase": "Running"}}]}


def unauthorized():
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, document):
        body = json.dumps(document).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def user(self):
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            claims = idp_token.check(self.server.issuer, token.strip())
        except (idp_token.Refused, OSError, ValueError, KeyError):
            return None
        return claims.get("preferred_username") or claims.get("sub")

    def do_GET(self):
        user = self.user()
        path = self.path.split("?")[0]
        with open(self.server.log, "a", encoding="utf-8") as log:
            log.write(json.dumps({"path": path, "user": user}) + "\n")
        if user is None:
            return self.answer(401, unauthorized())
        documents = {"/api": API_VERSIONS, "/apis": API_GROUPS, "/api/v1": CORE_V1,
                     "/api/v1/namespaces/default/pods": pod_list(user)}
        if path in documents:
            return self.answer(200, documents[path])
        return self.answer(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                 "reason": "NotFound", "code": 404, "message": f"{path} not found"})


def main(argv):
    if len(argv) != 6:
        print("kube_api_standin: usage: kube_api_standin.py PORT CERT KEY ISSUER LOG", file=sys.stderr)
        return 2
    port, cert, key, issuer, log = int(argv[1]), argv[2], argv[3], argv[4], argv[5]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.issuer, server.log = issuer, log
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
