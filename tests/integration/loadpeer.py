#!/usr/bin/env python3
"""Many concurrent TLS clients against kxfer serve, from one process (tests/integration/66-load.sh).

    loadpeer.py PORT --ca CERT --root DIR [--clients N] [--slow N] [--requests N]
                [--files A,B,C] [--big FILE --big-every K] [--slow-seconds S]
                [--bound S] [--ready FILE] [--json FILE]

Fast clients: each opens one TLS connection (verified against CERT, by IP: chain only),
makes a first GET, waits until every fast client has made its first request (so that all
of them are open at once), then makes the rest of its --requests on the same keep-alive
connection.  Files cycle through --files; every K-th client also fetches --big once.
Every body is checked by SHA-256 against the file under --root.  A 503 (the server is
full: kxfer answers it after the handshake and closes) ends that client: counted, not an
error.

Slow clients: each opens a TLS connection and sends a request head for the first file one
byte a second for --slow-seconds (the head is padded so it is not complete by then), then
the rest at once, and checks the answer the same way.  An answer that arrives before the
head is complete (say a 503, or a close by a header deadline) is recorded as "early".

Every operation has a time limit, and the whole run --bound seconds: a client that hangs is
reported as such ("hung"), never waits forever.  Prints one JSON object (and writes it to
--json): counts per outcome, bytes, durations, and the first few errors.  Exit 0 whenever
the run itself worked; the test judges the numbers.
"""
import argparse
import asyncio
import hashlib
import json
import os
import ssl
import sys
import time

HEAD_LIMIT = 64 * 1024


class Outcome(Exception):
    pass


async def close_quietly(writer):
    """Closes a connection (if there is one) without letting its errors escape."""
    if not writer:
        return
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 5)
    except (OSError, ssl.SSLError, asyncio.TimeoutError):
        pass


async def read_response(reader, timeout):
    """(status, headers dict, body) of one response; raises on EOF or a bad response."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise Outcome("bad status line %r" % lines[0][:80])
    status = int(parts[1])
    hdrs = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    if "content-length" not in hdrs:
        raise Outcome("no Content-Length (status %d)" % status)
    n = int(hdrs["content-length"])
    body = await asyncio.wait_for(reader.readexactly(n), timeout) if n else b""
    return status, hdrs, body


class Run:
    def __init__(self, a):
        self.a = a
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.ctx.load_verify_locations(a.ca)
        self.ctx.check_hostname = False  # we connect by IP; the chain must verify
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.files = a.files.split(",")
        self.digest = {}
        for f in self.files + ([a.big] if a.big else []):
            with open(os.path.join(a.root, f), "rb") as fh:
                self.digest[f] = hashlib.sha256(fh.read()).hexdigest()
        self.connect_sem = asyncio.Semaphore(a.connect_at_once)
        self.arrived = 0
        self.all_in = asyncio.Event()
        self.c = {k: 0 for k in ("fast_ok", "fast_503", "fast_err", "fast_hung", "requests_ok",
                                 "bytes", "slow_ok", "slow_early", "slow_err", "slow_hung",
                                 "peak_fast_open", "open_now")}
        self.early_status = {}
        self.errors = []
        self.durations = []

    def err(self, what):
        if len(self.errors) < 20:
            self.errors.append(what)

    def arrive(self):
        self.arrived += 1
        if self.arrived >= self.a.clients:
            self.all_in.set()

    async def connect(self):
        async with self.connect_sem:
            return await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.a.port, ssl=self.ctx,
                                        server_hostname="localhost", limit=HEAD_LIMIT),
                self.a.op_timeout)

    def check(self, name, status, body):
        if status != 200:
            raise Outcome("%s: status %d" % (name, status))
        if hashlib.sha256(body).hexdigest() != self.digest[name]:
            raise Outcome("%s: sha256 mismatch (%d bytes)" % (name, len(body)))
        self.c["bytes"] += len(body)

    async def get(self, reader, writer, name):
        writer.write(("GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % name).encode())
        try:
            await asyncio.wait_for(writer.drain(), self.a.op_timeout)
        except (ConnectionResetError, BrokenPipeError):
            pass  # the server may have answered (503) and closed already: read what it said
        return await read_response(reader, self.a.op_timeout)

    async def fast(self, i):
        t0 = time.monotonic()
        arrived = False
        writer = None
        stage = "connect"
        try:
            reader, writer = await self.connect()
            stage = "request 1"
            names = [self.files[(i + k) % len(self.files)] for k in range(self.a.requests)]
            if self.a.big and i % self.a.big_every == 0:
                names[-1] = self.a.big
            status, _, body = await self.get(reader, writer, names[0])
            if status == 503:
                self.c["fast_503"] += 1
                return
            self.check(names[0], status, body)
            self.c["requests_ok"] += 1
            self.c["open_now"] += 1
            self.c["peak_fast_open"] = max(self.c["peak_fast_open"], self.c["open_now"])
            self.arrive()
            arrived = True
            await asyncio.wait_for(self.all_in.wait(), self.a.bound)
            for k, name in enumerate(names[1:]):
                stage = "request %d" % (k + 2)
                status, _, body = await self.get(reader, writer, name)
                self.check(name, status, body)
                self.c["requests_ok"] += 1
            self.c["fast_ok"] += 1
        except asyncio.TimeoutError:
            self.c["fast_hung"] += 1
            self.err("fast %d: %s: timed out after %.1f s" % (i, stage, time.monotonic() - t0))
        except (Outcome, OSError, ssl.SSLError, asyncio.IncompleteReadError, ValueError) as e:
            self.c["fast_err"] += 1
            self.err("fast %d: %s: %s: %s" % (i, stage, type(e).__name__, e))
        finally:
            if arrived:
                self.c["open_now"] -= 1
            else:
                self.arrive()
            self.durations.append(time.monotonic() - t0)
            await close_quietly(writer)

    async def slow(self, i):
        t0 = time.monotonic()
        name = self.files[0]
        head = ("GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: %s\r\n\r\n"
                % (name, "s" * (self.a.slow_seconds + 8))).encode()
        writer = None
        try:
            reader, writer = await self.connect()
            answer = asyncio.ensure_future(read_response(reader, self.a.bound))
            sent = 0
            deadline = t0 + self.a.slow_seconds
            while time.monotonic() < deadline and not answer.done():
                writer.write(head[sent:sent + 1])
                sent += 1
                await asyncio.wait_for(writer.drain(), self.a.op_timeout)
                await asyncio.wait([answer], timeout=1.0)
            if answer.done():
                try:
                    status = answer.result()[0]
                except Exception as e:  # closed before answering
                    status = type(e).__name__
                self.c["slow_early"] += 1
                self.early_status[str(status)] = self.early_status.get(str(status), 0) + 1
                return
            writer.write(head[sent:])
            await asyncio.wait_for(writer.drain(), self.a.op_timeout)
            status, _, body = await asyncio.wait_for(answer, self.a.op_timeout)
            self.check(name, status, body)
            self.c["slow_ok"] += 1
        except asyncio.TimeoutError:
            self.c["slow_hung"] += 1
            self.err("slow %d: timed out after %.1f s" % (i, time.monotonic() - t0))
        except (Outcome, OSError, ssl.SSLError, asyncio.IncompleteReadError, ValueError) as e:
            self.c["slow_err"] += 1
            self.err("slow %d: %s: %s" % (i, type(e).__name__, e))
        finally:
            self.durations.append(time.monotonic() - t0)
            await close_quietly(writer)

    async def main(self):
        t0 = time.monotonic()
        # Slow clients first, so they are in place while the fast ones come and go.
        slow = [asyncio.ensure_future(self.slow(i)) for i in range(self.a.slow)]
        await asyncio.sleep(0.5 if self.a.slow else 0)
        fast = [asyncio.ensure_future(self.fast(i)) for i in range(self.a.clients)]
        if self.a.ready:
            open(self.a.ready, "w").close()
        done, pending = await asyncio.wait(slow + fast, timeout=self.a.bound)
        for p in pending:
            p.cancel()
        self.c["unfinished"] = len(pending)
        for d in done:
            if d.exception():
                self.err("task: %r" % d.exception())
        dur = sorted(self.durations)
        out = dict(self.c, clients=self.a.clients, slow=self.a.slow,
                   seconds=round(time.monotonic() - t0, 2),
                   max_client_seconds=round(dur[-1], 2) if dur else 0,
                   median_client_seconds=round(dur[len(dur) // 2], 2) if dur else 0,
                   early_status=self.early_status, errors=self.errors)
        del out["open_now"]
        return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--slow", type=int, default=200)
    ap.add_argument("--requests", type=int, default=3)
    ap.add_argument("--files", default="f1k,f100k")
    ap.add_argument("--big", default="")
    ap.add_argument("--big-every", type=int, default=10)
    ap.add_argument("--slow-seconds", type=int, default=20)
    ap.add_argument("--op-timeout", type=float, default=30)
    ap.add_argument("--connect-at-once", type=int, default=100)
    ap.add_argument("--bound", type=float, default=90)
    ap.add_argument("--ready", default="")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    out = asyncio.run(Run(a).main())
    text = json.dumps(out, sort_keys=True)
    if a.json:
        with open(a.json, "w") as fh:
            fh.write(text + "\n")
    print(text)


if __name__ == "__main__":
    sys.exit(main())
