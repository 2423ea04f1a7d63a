#!/usr/bin/env python3
"""Raw TLS client for the integration tests (loopback only).

rawtls.py PORT [options] < REQUEST

Sends the bytes of stdin (optionally followed by --body-bytes N random bytes) over a TLS
connection to 127.0.0.1:PORT and copies everything the server sends back to stdout, until
the server closes the connection or --timeout seconds pass without data.

Options:
  --ca FILE          verify the server with this CA file (else no verification)
  --cert F --key F   present a client certificate
  --body-bytes N     after stdin, send N random bytes
  --abort            after sending, close the TCP socket abruptly (no close_notify, RST)
  --shutdown         after sending, send close_notify and close (no reading)
  --hold S           after sending, sleep S seconds without reading, then close
  --timeout S        idle read timeout (default 5)
  --time             print the seconds until EOF on stderr as "elapsed=S"

Exit status: 0 the server closed the connection (clean or ragged EOF, or reset after some
data), 2 TLS handshake failed, 3 timed out while the connection was still open,
4 connection refused/reset before any response, 1 other error.
"""
import os
import socket
import ssl
import struct
import sys
import time


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 1
    port = int(args.pop(0))
    opts = {"ca": None, "cert": None, "key": None, "body": 0, "abort": False,
            "shutdown": False, "hold": None, "timeout": 5.0, "time": False}
    while args:
        a = args.pop(0)
        if a == "--ca":
            opts["ca"] = args.pop(0)
        elif a == "--cert":
            opts["cert"] = args.pop(0)
        elif a == "--key":
            opts["key"] = args.pop(0)
        elif a == "--body-bytes":
            opts["body"] = int(args.pop(0))
        elif a == "--abort":
            opts["abort"] = True
        elif a == "--shutdown":
            opts["shutdown"] = True
        elif a == "--hold":
            opts["hold"] = float(args.pop(0))
        elif a == "--timeout":
            opts["timeout"] = float(args.pop(0))
        elif a == "--time":
            opts["time"] = True
        else:
            print("rawtls.py: unknown option " + a, file=sys.stderr)
            return 1

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if opts["ca"]:
        ctx.load_verify_locations(opts["ca"])
        ctx.check_hostname = False  # we connect by IP; chain verification is enough here
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if opts["cert"]:
        ctx.load_cert_chain(opts["cert"], opts["key"])

    request = sys.stdin.buffer.read()
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError as e:
        print("rawtls.py: connect: %s" % e, file=sys.stderr)
        return 4
    try:
        s = ctx.wrap_socket(raw, server_hostname="localhost")
    except (ssl.SSLError, OSError) as e:
        print("rawtls.py: handshake: %s" % e, file=sys.stderr)
        return 2

    start = time.monotonic()
    try:
        if request:
            s.sendall(request)
        left = opts["body"]
        chunk = os.urandom(65536)
        while left > 0:
            n = min(left, len(chunk))
            s.sendall(chunk[:n])
            left -= n
    except (ssl.SSLError, OSError) as e:
        # The server may answer early (e.g. 413/431) and close; keep reading what it sent.
        print("rawtls.py: send: %s" % e, file=sys.stderr)

    if opts["abort"]:
        # SO_LINGER 0: close sends a RST; SSLSocket.close() sends no TLS close_notify.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        return 0
    if opts["shutdown"]:
        try:
            s.unwrap()
        except (ssl.SSLError, OSError):
            pass
        s.close()
        return 0
    if opts["hold"] is not None:
        time.sleep(opts["hold"])
        s.close()
        return 0

    s.settimeout(opts["timeout"])
    out = sys.stdout.buffer
    got = 0
    rc = 0
    while True:
        try:
            data = s.recv(65536)
        except socket.timeout:
            rc = 3
            break
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
            break
        except ConnectionResetError:
            rc = 0 if got else 4
            break
        except (ssl.SSLError, OSError) as e:
            print("rawtls.py: recv: %s" % e, file=sys.stderr)
            rc = 0 if got else 1
            break
        if not data:
            break
        got += len(data)
        out.write(data)
    out.flush()
    if opts["time"]:
        print("elapsed=%.2f" % (time.monotonic() - start), file=sys.stderr)
    try:
        s.close()
    except OSError:
        pass
    return rc


if __name__ == "__main__":
    sys.exit(main())
