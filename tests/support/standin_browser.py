#!/usr/bin/env python3
"""A stand-in browser for the token2go client tests: put it in BROWSER.

Usage: standin_browser.py [ARGS...] URL   (the URL is the last argument)

It plays the gateway and the browser. URL is either a client's start link on its loopback
listener (http://127.0.0.1:PORT/<random>), which it opens and whose 303 it follows to the server,
or a flow URL on the server itself. It adds the token header a gateway would add to every request
that is not for the client's listener, and:
- follows redirects (301/302/303 as GET, 307/308 keeping method and body);
- on a 200 HTML page with a <form method="post">, submits the form's inputs as
  application/x-www-form-urlencoded to its action (the form_post response mode), then follows
  redirects;
- stops at the first other answer: exit 0 for 2xx, 1 otherwise (and on network errors).
Everything happens before it exits, so a client that waits for its browser command deadlocks.
It never writes to stdout: it inherits the client's stdout, which carries only the result.

Environment:
  STANDIN_TOKEN         token to send; unset: no token header
  STANDIN_HEADER_NAME   header to send it in (default X-Forwarded-Access-Token)
  STANDIN_TAMPER_STATE  1: change the state value before delivering to the client
  STANDIN_START_TWICE   1: request the start link once more before following it, as someone
                        who read it from this command's argv would
  STANDIN_HOST_HEADER   Host header to send with the delivery to the client's listener instead
                        of the real one
  STANDIN_EXTRA_PATHS   comma-separated paths requested on the listener's origin before the
                        delivery, e.g. /favicon.ico,/probe
  STANDIN_LOG           file to append one JSON line per request to: kind (start,
                        start-extra, navigate, extra, deliver, submit), method, url (query values
                        removed), status, headers and body of the response (or error), t (Unix
                        time, float); first a record {"kind": "argv", "url": "", "argv": [...],
                        "t": ...}
  STANDIN_TIMEOUT       seconds per request (default 30)
"""

import html.parser
import http.client
import json
import os
import sys
import time
import urllib.parse

DEFAULT_HEADER_NAME = "X-Forwarded-Access-Token"
DEFAULT_TIMEOUT = 30
MAX_STEPS = 20
TAMPERED_STATE = "tampered-by-standin"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class StandinError(Exception):
    pass


class PostForm(html.parser.HTMLParser):
    """The first <form method="post"> of a page: its action and its named inputs, in order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.action = None
        self.fields = []
        self._inside = False
        self._done = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form" and not self._done and (attributes.get("method") or "").lower() == "post":
            self.action = attributes.get("action") or ""
            self._inside = True
        elif tag == "input" and self._inside and attributes.get("name"):
            self.fields.append((attributes["name"], attributes.get("value") or ""))

    def handle_endtag(self, tag):
        if tag == "form" and self._inside:
            self._inside = False
            self._done = True


def origin(url):
    parts = urllib.parse.urlsplit(url)
    return (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))


def without_query_values(url):
    """The URL as logged: query names kept, values dropped."""
    parts = urllib.parse.urlsplit(url)
    names = [part.partition("=")[0] for part in parts.query.split("&") if part]
    query = "&".join(f"{name}=" for name in names)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def with_state(url, state):
    """url with the value of its state parameter replaced, the other parameters byte for byte."""
    parts = urllib.parse.urlsplit(url)
    query = "&".join(f"state={state}" if part.partition("=")[0] == "state" else part
                     for part in parts.query.split("&"))
    return urllib.parse.urlunsplit(parts._replace(query=query))


class Standin:
    def __init__(self, start_url, environ):
        # A flow URL starts on the server (older clients, tests); a start link on the listener.
        starts_on_server = "/flow/redirect/token" in urllib.parse.urlsplit(start_url).path
        self.server_origin = origin(start_url) if starts_on_server else None
        self.listener_origin = None if starts_on_server else origin(start_url)
        self.start_twice = environ.get("STANDIN_START_TWICE") == "1"
        self.token = environ.get("STANDIN_TOKEN")
        self.header_name = environ.get("STANDIN_HEADER_NAME") or DEFAULT_HEADER_NAME
        self.tamper_state = environ.get("STANDIN_TAMPER_STATE") == "1"
        self.host_header = environ.get("STANDIN_HOST_HEADER")
        self.extra_paths = [path for path in (environ.get("STANDIN_EXTRA_PATHS") or "").split(",") if path]
        self.log_path = environ.get("STANDIN_LOG")
        self.timeout = float(environ.get("STANDIN_TIMEOUT") or DEFAULT_TIMEOUT)
        self.probed_origins = set()

    def run(self, url):
        """Browses from url; returns the final status."""
        method, body, kind = "GET", None, "navigate"
        if self.listener_origin is not None:
            if self.start_twice:
                self.request("start-extra", "GET", url, None)
            status, headers, _ = self.request("start", "GET", url, None)
            location = headers.get("location")
            if status not in (301, 302, 303, 307, 308) or not location:
                return status
            url = urllib.parse.urljoin(url, location)
        for _ in range(MAX_STEPS):
            if self.is_listener(url):
                url, body = self.prepare_delivery(url, body)
                kind = "deliver" if kind == "navigate" else kind
            status, headers, content = self.request(kind, method, url, body)
            location = headers.get("location")
            if status in (301, 302, 303, 307, 308) and location:
                url = urllib.parse.urljoin(url, location)
                if status in (301, 302, 303):
                    method, body = "GET", None
                kind = "navigate"
                continue
            form = self.post_form(status, headers, content)
            if form is None:
                return status
            action, fields = form
            url, method, kind = urllib.parse.urljoin(url, action), "POST", "submit"
            body = urllib.parse.urlencode(fields).encode("ascii")
        raise StandinError(f"more than {MAX_STEPS} steps")

    def is_listener(self, url):
        if self.listener_origin is not None:
            return origin(url) == self.listener_origin
        return origin(url) != self.server_origin

    def prepare_delivery(self, url, body):
        """Probes the listener's origin once, and tampers with the state if asked to."""
        listener = origin(url)
        if listener not in self.probed_origins:
            self.probed_origins.add(listener)
            for path in self.extra_paths:
                self.request("extra", "GET", urllib.parse.urljoin(url, path), None)
        if self.tamper_state:
            if body is None:
                url = with_state(url, TAMPERED_STATE)
            else:
                fields = [(name, TAMPERED_STATE if name == "state" else value)
                          for name, value in urllib.parse.parse_qsl(body.decode("ascii"), keep_blank_values=True)]
                body = urllib.parse.urlencode(fields).encode("ascii")
        return url, body

    @staticmethod
    def post_form(status, headers, content):
        if status != 200 or not headers.get("content-type", "").startswith("text/html"):
            return None
        parser = PostForm()
        parser.feed(content.decode("utf-8", "replace"))
        parser.close()
        return None if parser.action is None else (parser.action, parser.fields)

    def request(self, kind, method, url, body):
        parts = urllib.parse.urlsplit(url)
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        headers = {"User-Agent": "token2go-standin-browser", "Accept": "text/html,*/*", "Connection": "close"}
        if self.is_listener(url):
            if self.host_header is not None and not kind.startswith("start"):
                headers["Host"] = self.host_header
        elif self.token is not None:
            headers[self.header_name] = self.token
        if body is not None:
            headers["Content-Type"] = FORM_CONTENT_TYPE
        target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        record = {"kind": kind, "method": method, "url": without_query_values(url), "t": time.time()}
        connection = connection_class(parts.hostname, parts.port, timeout=self.timeout)
        try:
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException) as error:
            record["error"] = f"{type(error).__name__}: {error}"
            self.log(record)
            raise StandinError(f"{method} {record['url']}: {record['error']}") from None
        finally:
            connection.close()
        response_headers = response.getheaders()
        record.update(status=response.status, headers=response_headers, body=content.decode("utf-8", "replace"))
        self.log(record)
        return response.status, {name.lower(): value for name, value in response_headers}, content

    def log(self, record):
        if self.log_path:
            with open(self.log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")


def main(argv):
    if len(argv) < 2:
        print("standin_browser: usage: standin_browser.py [ARGS...] URL", file=sys.stderr)
        return 2
    url = argv[-1]
    log_path = os.environ.get("STANDIN_LOG")
    if log_path:
        with open(log_path, "a", encoding="utf-8") as log:
            # "url" empty: readers that count requests by their url skip this record.
            log.write(json.dumps({"kind": "argv", "url": "", "argv": argv[1:], "t": time.time()}) + "\n")
    try:
        status = Standin(url, os.environ).run(url)
    except (StandinError, ValueError) as error:
        print(f"standin_browser: {error}", file=sys.stderr)
        return 1
    if 200 <= status < 300:
        return 0
    print(f"standin_browser: stopped at status {status}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
