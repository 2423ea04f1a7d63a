#!/usr/bin/env python3
"""A deliberately wrong HTTPS server for kxfer's tree client (tests/integration/72-tree.sh).

    treepeer.py PORT CERT KEY FILE

Paths:
  /bad-digest      FILE's bytes with a Repr-Digest that is not theirs
  /no-length       FILE's bytes, HEAD without Content-Length
  /wrong-range     FILE; every Range is answered 206 with a Content-Range that starts at 0
  /shrunk          HEAD says 3 MiB, every GET answers for a 1 MiB + 5 version (ETag "s2"):
                   the file shrank between the HEAD and the first range
  /changing        every request sees a new version: another ETag and another size
  /evil/           a JSON listing naming "../escape", "a/../../b", ".", "" and "ok.txt"
  /evil/ok.txt     a small file
  /notjson/        a text listing (200, text/plain)
  /deep/...        a listing that always holds one more directory
Anything else: 404.
"""
import base64
import hashlib
import http.server
import json
import ssl
import sys

PORT, CERT, KEY, FILE = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
DATA = open(FILE, "rb").read()
DATE = "Tue, 01 Dec 2026 06:00:00 GMT"
VERSIONS = [0]  # requests to /changing so far


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, headers=(), head_only=False, length=True):
        self.send_response(status)
        if length:
            self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if not head_only:
            try:
                self.wfile.write(body)
            except OSError:  # the client hung up on a lie it caught: that is the point
                self.close_connection = True

    def ranged(self, body, etag, head_only):
        """body as a version of a file that honours Range (206, or 416 past its end)."""
        r = self.headers.get("Range")
        tags = [("ETag", etag), ("Accept-Ranges", "bytes")]
        if not r or head_only:
            return self.send(200, body, tags, head_only)
        a, b = (int(x) for x in r.split("=")[1].split("-"))
        if a >= len(body):
            return self.send(416, b"", tags + [("Content-Range", "bytes */%d" % len(body))])
        b = min(b, len(body) - 1)
        self.send(206, body[a:b + 1], tags + [("Content-Range", "bytes %d-%d/%d" % (a, b, len(body)))])

    def listing(self, entries):
        return json.dumps(entries).encode()

    def handle_any(self, head_only):
        p = self.path
        if p == "/bad-digest":
            wrong = base64.b64encode(hashlib.sha256(DATA + b"x").digest()).decode()
            self.send(200, DATA, [("Repr-Digest", "sha-256=:%s:" % wrong), ("ETag", '"v1"'),
                                  ("Last-Modified", DATE)], head_only)
        elif p == "/no-length":
            if head_only:
                self.send_response(200)
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
            else:
                self.send(200, DATA)
        elif p == "/wrong-range":
            r = self.headers.get("Range")
            if r and not head_only:
                a, b = r.split("=")[1].split("-")
                n = int(b) - int(a) + 1
                self.send(206, DATA[:n], [("Content-Range", "bytes 0-%d/%d" % (n - 1, len(DATA))),
                                         ("ETag", '"v1"')])
            else:
                self.send(200, DATA, [("ETag", '"v1"'), ("Accept-Ranges", "bytes")], head_only)
        elif p == "/shrunk":
            if head_only:
                self.send(200, b"", [("Content-Length", str(3 << 20)), ("ETag", '"s1"')], True, False)
            else:
                self.ranged((DATA * 2)[:(1 << 20) + 5], '"s2"', False)
        elif p == "/changing":
            VERSIONS[0] += 1
            n = VERSIONS[0]
            self.ranged((DATA * 2)[:(3 << 20) - n * 4096], '"c%d"' % n, head_only)
        elif p == "/evil/":
            names = ["../escape", "a/../../b", ".", "", "ok.txt"]
            self.send(200, self.listing([{"name": n, "type": "file", "size": 3, "mtime": DATE}
                                         for n in names]), [("Content-Type", "application/json")], head_only)
        elif p == "/evil/ok.txt":
            self.send(200, b"ok\n", [("Last-Modified", DATE)], head_only)
        elif p == "/notjson/":
            self.send(200, b"a.txt\nsub/\n", [("Content-Type", "text/plain")], head_only)
        elif p.startswith("/deep/"):
            self.send(200, self.listing([{"name": "d", "type": "directory", "mtime": DATE}]),
                      [("Content-Type", "application/json")], head_only)
        else:
            self.send(404, b"not here\n", [("Content-Type", "text/plain")], head_only)

    def do_GET(self):
        self.handle_any(False)

    def do_HEAD(self):
        self.handle_any(True)


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
