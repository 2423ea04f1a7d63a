#!/usr/bin/env python3
"""TLS record tampering TCP proxy for the integration tests (loopback only).

tamper.py LISTEN_PORT TARGET_PORT [--dir s2c|c2s] [--nth N] [--min-len L] [--ready F] [--log F]

Accepts on 127.0.0.1:LISTEN_PORT, connects each client to 127.0.0.1:TARGET_PORT and copies
both directions unchanged, except in direction --dir (s2c: server to client, the default;
c2s: client to server).  There it follows the TLS record stream (5-byte headers: type,
version, length; records may straddle reads) and, in the Nth (default 3) record of type 23
(application_data) whose length is at least L (default 8000: bulk data, never a handshake
record), flips one bit (0x01) of the byte in the middle of the encrypted payload, once per
connection.  --nth 0 changes nothing (a pass-through that still counts records).

Options:
  --ready FILE   write "listening" into FILE once accepting connections (else print it)
  --log FILE     append one line per connection once both directions ended:
                 "records N tampered 0|1 lengths L1,L2,..." (all type-23 record lengths in
                 direction --dir, in order)

Two threads per connection, one a direction: a FIN is passed on as a FIN (shutdown), a reset
as a reset (after the data before it); SIGTERM or SIGINT: exit at once.
"""
import os
import signal
import socket
import struct
import sys
import threading


class Records:
    """Follows one direction's TLS records; feed() flips the chosen bit in place."""

    def __init__(self, nth, min_len):
        self.nth, self.min_len, self.hdr, self.tampered = nth, min_len, bytearray(), False
        self.left = 0            # bytes of the current record's payload still to come
        self.flip_at = -1        # how many payload bytes before the one to flip, or -1
        self.count = 0           # type-23 records of at least min_len seen
        self.lengths = []        # every type-23 record length

    def feed(self, buf):
        i = 0
        while i < len(buf):
            if self.left == 0:   # in a header
                take = min(5 - len(self.hdr), len(buf) - i)
                self.hdr += buf[i:i + take]
                i += take
                if len(self.hdr) == 5:
                    typ, length = self.hdr[0], int.from_bytes(self.hdr[3:5], "big")
                    self.hdr.clear()
                    self.left, self.flip_at = length, -1
                    if typ == 23:
                        self.lengths.append(length)
                        if length >= self.min_len:
                            self.count += 1
                            if self.count == self.nth and not self.tampered:
                                self.flip_at = length // 2
                continue
            take = min(self.left, len(buf) - i)
            if 0 <= self.flip_at < take:
                buf[i + self.flip_at] ^= 0x01
                self.tampered = True
            if self.flip_at >= 0:
                self.flip_at = self.flip_at - take if self.flip_at >= take else -1
            self.left -= take
            i += take


def quiet(f, *args):
    try:
        f(*args)
    except OSError:
        return


def pump(src, dst, rec, resets):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if rec is not None:
                data = bytearray(data)
                rec.feed(data)
            try:
                dst.sendall(data)
            except OSError:      # dst is gone: its own direction passes that on
                return
    except OSError:              # src was reset: reset dst too (at close); wake its reader
        resets.add(dst)
        quiet(dst.shutdown, socket.SHUT_RD)
        return
    quiet(dst.shutdown, socket.SHUT_WR)      # a FIN for a FIN


def handle(client, opts):
    try:
        server = socket.create_connection(("127.0.0.1", opts["target"]))
    except OSError:
        client.close()
        return
    rec, resets = Records(opts["nth"], opts["min_len"]), set()
    s2c = threading.Thread(target=pump, args=(server, client,
                                              rec if opts["dir"] == "s2c" else None, resets))
    s2c.start()
    pump(client, server, rec if opts["dir"] == "c2s" else None, resets)
    s2c.join()
    for s in (client, server):
        if s in resets:
            quiet(s.setsockopt, socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    if opts["log"]:
        with open(opts["log"], "a") as f:
            f.write("records %d tampered %d lengths %s\n"
                    % (rec.count, rec.tampered, ",".join(map(str, rec.lengths))))


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    opts = {"listen": int(args[0]), "target": int(args[1]), "dir": "s2c", "nth": 3,
            "min_len": 8000, "ready": None, "log": None}
    args = args[2:]
    names = {"--dir": ("dir", str), "--nth": ("nth", int), "--min-len": ("min_len", int),
             "--ready": ("ready", str), "--log": ("log", str)}
    while args:
        if args[0] not in names or len(args) < 2:
            sys.exit("tamper.py: bad option " + args[0])
        key, conv = names[args.pop(0)]
        opts[key] = conv(args.pop(0))
    if opts["dir"] not in ("s2c", "c2s"):
        sys.exit("tamper.py: --dir s2c|c2s")
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: os._exit(0))
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", opts["listen"]))
    ls.listen(64)
    print("listening", file=open(opts["ready"], "w") if opts["ready"] else sys.stdout, flush=True)
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=handle, args=(conn, opts), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
