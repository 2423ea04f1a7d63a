#!/usr/bin/env python3
"""TLS 1.3 peers (userspace, Python's ssl module) that end a transfer in chosen ways, for the
kTLS tests in tests/ktls/guest/ (they run inside the guest).

server MODE CERT KEY BODYFILE
    Listens on 127.0.0.1 (a port the kernel picks), prints "PORT n", serves ONE connection:
    reads the request head, answers 200 with BODYFILE and ends as MODE says, then exits.
    The listening socket is closed as soon as that connection is accepted.
      notify-eof  HTTP/1.0 without Content-Length; the whole body; close_notify
      fin-eof     the same, but a TCP FIN without close_notify (what truncation looks like)
      rst-eof     HTTP/1.0 without Content-Length; half the body; a TCP reset (SO_LINGER 0)
      rst-mid     Content-Length of the whole body; half of it; a TCP reset
      notify-mid  Content-Length of the whole body; half of it; close_notify
client PORT PATH CAFILE NBYTES
    GET PATH from 127.0.0.1:PORT, reads the head and NBYTES of the body, then resets the
    connection (SO_LINGER 0).  Prints "read N".
"""
import os
import socket
import ssl
import struct
import sys


def linger0(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def server(mode, cert, key, bodyfile):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    with open(bodyfile, "rb") as f:
        body = f.read()
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    print("PORT %d" % ls.getsockname()[1], flush=True)
    ls.settimeout(30)
    raw, _ = ls.accept()
    ls.close()
    raw.settimeout(30)
    s = ctx.wrap_socket(raw, server_side=True)  # takes over raw's descriptor
    req = b""
    while b"\r\n\r\n" not in req:
        d = s.recv(4096)
        if not d:
            sys.exit("client closed before its request was complete")
        req += d
    print("request " + req.split(b"\r\n", 1)[0].decode("latin-1"), flush=True)
    if mode in ("notify-eof", "fin-eof", "rst-eof"):
        if mode == "rst-eof":
            body = body[: len(body) // 2]
        s.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n" + body)
    else:
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                  % len(body) + body[: len(body) // 2])
    if mode in ("notify-eof", "notify-mid"):
        try:
            s.unwrap().close()  # sends close_notify, then waits for the peer's
        except (OSError, ssl.SSLError):
            s.close()
    elif mode == "fin-eof":
        s.close()  # Python never sends close_notify on close: a plain FIN
    elif mode in ("rst-mid", "rst-eof"):
        linger0(s)
        s.close()
    print("done " + mode, flush=True)


def client(port, path, cafile, nbytes):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path.encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            sys.exit("server closed before the head")
        buf += d
    got = len(buf) - buf.index(b"\r\n\r\n") - 4
    while got < nbytes:
        d = s.recv(65536)
        if not d:
            sys.exit("server closed after %d body bytes" % got)
        got += len(d)
    linger0(s)
    s.close()
    print("read %d" % got, flush=True)


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) == 5 and a[0] == "server":
        server(*a[1:])
    elif len(a) == 5 and a[0] == "client":
        client(int(a[1]), a[2], a[3], int(a[4]))
    else:
        sys.exit(__doc__)
