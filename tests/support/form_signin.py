#!/usr/bin/env python3
"""Signs in through a gateway without a browser, then sends one request with forged headers.

Usage: form_signin.py USER URL REQUEST_URL [NAME=VALUE ...]

GETs URL (as a browser: `Accept: text/html`, cookies kept, TLS certificates not checked: the
gateways of the tests use self-signed ones), follows redirects, fills the identity provider's
development login form with USER and its consent form, until an answer that is not a redirect
or a provider form. Then GETs REQUEST_URL (not following a redirect) with the NAME=VALUE headers
added (the forged copies a client might send) and prints {"status": N, "location": its
Location or null, "body": TEXT} as JSON. Exit 1 with one line on
stderr when the sign-in does not end. Standard library only. For the header-stripping checks of
tests/tools/realparts_apache.rs and realparts_nginx.rs; the clients' flows use real Chromium.
"""

import http.cookiejar
import json
import re
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def opener():
    return urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
        NoRedirect,
        urllib.request.ProxyHandler({}),
        urllib.request.HTTPSHandler(context=ssl._create_unverified_context()),
    )


def fetch(browser, url, form=None, headers=()):
    data = None if form is None else urllib.parse.urlencode(form).encode("ascii")
    request = urllib.request.Request(url, data=data, headers={"Accept": "text/html"})
    for name, value in headers:
        request.add_header(name, value)
    try:
        with browser.open(request, timeout=60) as response:
            return response.status, response.headers, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode("utf-8", "replace")


def where(url):
    """url without its query (which may hold a one-time code), for an error message."""
    return urllib.parse.urlsplit(url)._replace(query="").geturl()


def sign_in(browser, user, url):
    form = None
    for _ in range(20):
        try:
            status, headers, body = fetch(browser, url, form)
        except OSError as error:
            raise OSError(f"{error} at {where(url)}") from None
        form = None
        if status in (301, 302, 303, 307) and headers.get("Location"):
            url = urllib.parse.urljoin(url, headers["Location"])
            continue
        action = re.search(r'<form[^>]*action="([^"]+)"', body)
        if status == 200 and action and 'name="prompt"' in body:
            url = urllib.parse.urljoin(url, action.group(1).replace("&amp;", "&"))
            form = {"prompt": "login", "login": user, "password": "any"} if 'name="login"' in body \
                else {"prompt": "consent"}
            continue
        return status
    raise OSError(f"the sign-in did not end within 20 pages, at {where(url)}")


def main(argv):
    if len(argv) < 4:
        print("form_signin: usage: form_signin.py USER URL REQUEST_URL [NAME=VALUE ...]", file=sys.stderr)
        return 2
    user, url, request_url = argv[1], argv[2], argv[3]
    forged = [tuple(pair.split("=", 1)) for pair in argv[4:]]
    browser = opener()
    try:
        sign_in(browser, user, url)
        status, headers, body = fetch(browser, request_url, headers=forged)
    except OSError as error:
        print(f"form_signin: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"status": status, "location": headers.get("Location"), "body": body}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
