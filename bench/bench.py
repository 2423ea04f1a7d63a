#!/usr/bin/env python3
"""kxfer vs nginx / curl benchmark; started by bench/run.sh (see there for the environment).

One file of BENCH_SIZE_MB MiB is served from the page cache over 127.0.0.1 with TLS 1.3 and
TLS_AES_128_GCM_SHA256 by nginx and by `kxfer serve`, both running for the whole benchmark, and
fetched by curl and by `kxfer get`.  The four server x client combinations are measured
round-robin (the order rotates every round) after one warm-up fetch each.  Per run:

  wall s        client start to client exit (monotonic clock)
  MB/s          bytes / wall / 1e6 (bytes checked against the file size: a short or failed
                transfer is an error, never a number)
  server CPU    utime+stime of the server processes (nginx master + workers; kxfer serve, all
                threads) from /proc/PID/stat, read right before the client starts and right
                after it exits
  client CPU    ru_utime+ru_stime of the client process from wait4()
  CPU-s/GiB     CPU seconds / (bytes / 2**30)
  other_cpu_s   CPU seconds used during the run by anything but the server and the client
                (/proc/stat busy time minus both; 10 ms ticks, so +-0.03 is noise): other
                users' load that disturbed the run.  steal_s: hypervisor steal time.

Plain python3 standard library only.
"""
import csv
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
SUITE = "TLS_AES_128_GCM_SHA256"
CLK_TCK = os.sysconf("SC_CLK_TCK")
GIB = 1 << 30

GOAL_SERVE_CPU = 0.5   # kxfer serve CPU-s/GiB, at most
GOAL_GET_CPU = 0.4     # kxfer get CPU-s/GiB, at most
GOAL_SPEEDUP = 1.3     # MB/s of kxfer get <- kxfer serve over curl <- nginx, at least

ALL_COMBOS = [("nginx", "curl"), ("nginx", "kxfer-get"),
              ("kxfer-serve", "curl"), ("kxfer-serve", "kxfer-get")]


class BenchError(Exception):
    pass


class Interrupted(Exception):
    pass


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def env_int(name, default):
    v = os.environ.get(name, "")
    if v == "":
        return default
    try:
        n = int(v)
    except ValueError:
        raise BenchError("%s=%r is not an integer" % (name, v))
    if n < 1:
        raise BenchError("%s must be >= 1" % name)
    return n


def cmd_out(argv, stderr=True):
    """Output of a short command (stdout+stderr), or '' when it cannot run."""
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT if stderr else subprocess.DEVNULL,
                           timeout=20, check=False)
        return r.stdout.decode(errors="replace").strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def proc_cpu(pid):
    """(utime, stime) in seconds of one process, all its threads included."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime/stime are fields 14/15.
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def host_cpu():
    """(busy, steal) seconds of all CPUs together, from /proc/stat (busy: not idle/iowait)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        return (sum(v) - v[3] - v[4]) / CLK_TCK, (v[7] if len(v) > 7 else 0) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return 0.0, 0.0


def background_busy(seconds=2.0):
    """Fraction of all CPUs busy while we do nothing (other users' load)."""
    b0 = host_cpu()[0]
    time.sleep(seconds)
    return (host_cpu()[0] - b0) / seconds / os.cpu_count()


def children_of(pid):
    kids = []
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        pass
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        if int(s[s.rindex(")") + 2:].split()[1]) == pid:
            kids.append(int(d))
    return kids


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, seconds, logfile):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise BenchError("server exited with status %s during startup; log %s:\n%s"
                             % (proc.returncode, logfile, tail(logfile)))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BenchError("nothing listens on 127.0.0.1:%d after %ds; log %s:\n%s"
                     % (port, seconds, logfile, tail(logfile)))


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:]).rstrip()
    except OSError:
        return "(no log)"


def cert_pin(pem_path):
    der = subprocess.run(["openssl", "x509", "-in", pem_path, "-outform", "DER"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True).stdout
    return "sha256:" + hashlib.sha256(der).hexdigest()


def negotiated_suite(port, cafile):
    """The TLS version and suite a plain `openssl s_client` gets from 127.0.0.1:port."""
    try:
        r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                            "-CAfile", cafile, "-brief"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        return "s_client failed: %s" % e
    out = r.stdout.decode(errors="replace")
    ver = re.search(r"Protocol version: (\S+)", out)
    suite = re.search(r"Ciphersuite: (\S+)", out)
    if not suite:
        return "s_client: no handshake: " + " | ".join(out.strip().splitlines()[-3:])
    return "%s %s" % (ver.group(1) if ver else "?", suite.group(1))


class Bench:
    def __init__(self):
        self.size_mb = env_int("BENCH_SIZE_MB", 1024)
        self.runs = env_int("BENCH_RUNS", 5)
        self.size = self.size_mb << 20
        self.kxfer = os.environ.get("KXFER") or os.path.join(TOP, "build", "kxfer")
        self.nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        combos = os.environ.get("BENCH_COMBOS", "")   # e.g. "nginx/curl,kxfer-serve/curl"
        if combos:
            want = [tuple(c.strip().split("/", 1)) for c in combos.split(",") if c.strip()]
            bad = [c for c in want if c not in ALL_COMBOS]
            if bad:
                raise BenchError("BENCH_COMBOS: unknown %s; known: %s" % (
                    bad, ", ".join("/".join(c) for c in ALL_COMBOS)))
            self.combos = [c for c in ALL_COMBOS if c in want]
        else:
            self.combos = list(ALL_COMBOS)
        self.timeout = int(120 + self.size_mb * 0.25)   # per transfer
        today = datetime.date.today().isoformat()
        self.outdir = os.environ.get("BENCH_OUT") or os.path.join(
            HERE, "results", "%s-%s" % (today, socket.gethostname()))
        self.tmp = None
        self.procs = {}       # name -> Popen
        self.client_pid = None
        self.servers = {}     # name -> dict(port, pids(), cafile, pin, log)
        self.rows = []
        self.facts = []

    # ---- setup ---------------------------------------------------------------------------

    def make_tmp(self):
        self.tmp = tempfile.mkdtemp(prefix="kxfer-bench.")
        os.chmod(self.tmp, 0o755)     # nginx workers may run as another user
        self.root = os.path.join(self.tmp, "root")
        os.mkdir(self.root)
        self.fname = "data-%dm.bin" % self.size_mb
        path = os.path.join(self.root, self.fname)
        log("writing %d MiB test file %s" % (self.size_mb, path))
        block = os.urandom(16 << 20)
        left = self.size
        with open(path, "wb") as f:
            while left:
                n = min(left, len(block))
                f.write(block[:n])
                left -= n
            f.flush()
            os.fsync(f.fileno())      # clean page-cache pages: no writeback during the runs
        os.chmod(path, 0o644)
        with open(path, "rb") as f:   # make sure all of it is in the page cache
            while f.read(8 << 20):
                pass

    def start_nginx(self):
        d = os.path.join(self.tmp, "nginx")
        os.mkdir(d)
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", key, "-out", cert],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
        os.chmod(key, 0o644)          # throwaway key; the master reads it anyway
        port = free_port()
        user = ""
        if os.geteuid() == 0:
            import grp
            import pwd
            user = "user %s %s;" % (pwd.getpwuid(0).pw_name, grp.getgrgid(0).gr_name)
        with open(os.path.join(HERE, "nginx.conf.in")) as f:
            conf = f.read()
        for k, v in (("@USER@", user), ("@TMP@", d), ("@PORT@", str(port)),
                     ("@ROOT@", self.root), ("@CERT@", cert), ("@KEY@", key)):
            conf = conf.replace(k, v)
        confpath = os.path.join(d, "nginx.conf")
        with open(confpath, "w") as f:
            f.write(conf)
        logfile = os.path.join(d, "stderr.log")
        argv = [self.nginx, "-p", d + "/", "-e", os.path.join(d, "error.log"), "-c", confpath]
        out = open(logfile, "wb")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                             start_new_session=True)
        out.close()
        self.procs["nginx"] = p
        wait_port(port, p, 10, os.path.join(d, "error.log"))
        master = p.pid

        def pids():
            return [master] + children_of(master)
        if len(pids()) < 2:
            time.sleep(0.5)
        self.servers["nginx"] = dict(port=port, pids=pids, cafile=cert, pin=cert_pin(cert),
                                     log=os.path.join(d, "error.log"), argv=argv)
        log("nginx on 127.0.0.1:%d (pids %s)" % (port, pids()))

    def start_kxfer(self):
        state = os.path.join(self.tmp, "kxfer-state")
        os.mkdir(state)
        logfile = os.path.join(self.tmp, "kxfer-serve.log")
        argv = [self.kxfer, "serve", "--threads", "1", "--ciphers", SUITE, "--root", self.root,
                "--state-dir", state, "--listen", "127.0.0.1:0"]
        out = open(logfile, "wb")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                             start_new_session=True)
        out.close()
        self.procs["kxfer-serve"] = p
        port = None
        end = time.monotonic() + 15
        while time.monotonic() < end:
            with open(logfile, errors="replace") as f:
                m = re.search(r"kxfer serve: listening on https://127\.0\.0\.1:(\d+)/", f.read())
            if m:
                port = int(m.group(1))
                break
            if p.poll() is not None:
                break
            time.sleep(0.05)
        if port is None:
            raise BenchError("kxfer serve did not print its listening line (status %s).\n"
                             "  command: %s\n  log %s:\n%s" % (
                                 p.poll(), " ".join(argv), logfile, tail(logfile)))
        wait_port(port, p, 10, logfile)
        cert = os.path.join(state, "cert.pem")
        pid = p.pid
        self.servers["kxfer-serve"] = dict(port=port, pids=lambda: [pid], cafile=cert,
                                           pin=cert_pin(cert), log=logfile, argv=argv)
        log("kxfer serve on 127.0.0.1:%d (pid %d)" % (port, pid))

    # ---- one transfer --------------------------------------------------------------------

    def client_argv(self, server, client):
        s = self.servers[server]
        url = "https://127.0.0.1:%d/%s" % (s["port"], self.fname)
        if client == "curl":
            return ["curl", "-sS", "-o", "/dev/null", "--cacert", s["cafile"],
                    "-w", "%{http_code} %{size_download}", url]
        # `-o -` with stdout on /dev/null rather than `-o /dev/null`: builds before 042f40d
        # wrote .FILE.kxfer-part and renamed it onto FILE, which (as root) replaced the
        # /dev/null device node.  --json then goes to stderr.
        return [self.kxfer, "get", url, "-o", "-", "--pin", s["pin"], "--json"]

    def spawn_wait(self, argv, outpath, errpath):
        """Run argv (stdout/stderr to files); returns (status, wall_s, user_s, sys_s)."""
        fa = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
              (os.POSIX_SPAWN_OPEN, 1, outpath, os.O_WRONLY | os.O_CREAT | (
                  os.O_TRUNC if outpath != os.devnull else 0), 0o644),
              (os.POSIX_SPAWN_OPEN, 2, errpath, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
        t0 = time.monotonic()
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=fa)
        self.client_pid = pid
        signal.alarm(self.timeout)
        try:
            _, status, ru = os.wait4(pid, 0)
        finally:
            signal.alarm(0)
        self.client_pid = None     # reaped; on an exception cleanup() kills and reaps it
        wall = time.monotonic() - t0
        return status, wall, ru.ru_utime, ru.ru_stime

    def transfer(self, server, client, rnd):
        s = self.servers[server]
        argv = self.client_argv(server, client)
        outp = os.path.join(self.tmp, "client.out")
        errp = os.path.join(self.tmp, "client.err")
        pids = s["pids"]()
        if client != "curl":
            outp = os.devnull
        h0 = host_cpu()
        before = [proc_cpu(p) for p in pids]
        status, wall, cu, cs = self.spawn_wait(argv, outp, errp)
        after = [proc_cpu(p) for p in pids]
        h1 = host_cpu()
        su = sum(a[0] - b[0] for a, b in zip(after, before))
        ss = sum(a[1] - b[1] for a, b in zip(after, before))
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise BenchError("%s died (status %s) during %s <- %s; log %s:\n%s" % (
                    name, p.returncode, client, server, self.servers[name]["log"],
                    tail(self.servers[name]["log"])))
        out = ""
        if outp != os.devnull:
            with open(outp, errors="replace") as f:
                out = f.read()
        with open(errp, errors="replace") as f:
            err = f.read()
        problem, got, note = None, None, ""
        if os.WIFSIGNALED(status):
            problem = "killed by signal %d%s" % (os.WTERMSIG(status), (
                " (timeout %ds)" % self.timeout) if os.WTERMSIG(status) == signal.SIGKILL else "")
        elif os.WEXITSTATUS(status) != 0:
            problem = "exit status %d" % os.WEXITSTATUS(status)
        if client == "curl":
            m = re.match(r"(\d+) (\d+)", out.strip())
            if m:
                got = int(m.group(2))
                if m.group(1) != "200" and not problem:
                    problem = "HTTP status %s" % m.group(1)
        else:
            j = None
            for line in (out + "\n" + err).splitlines():
                line = line.strip()
                if line.startswith("{"):
                    try:
                        j = json.loads(line)
                    except ValueError:
                        pass
            if j is None:
                if not problem:
                    problem = "no --json object on stderr"
            else:
                got = j.get("bytes")
                if j.get("status") != 200 and not problem:
                    problem = "HTTP status %s" % j.get("status")
                if j.get("cipher") not in (None, SUITE) and not problem:
                    problem = "cipher %s, not %s" % (j.get("cipher"), SUITE)
                note = "rx=%s" % j.get("rx_path")
        if server == "kxfer-serve":
            m = None
            for m in re.finditer(r" (tx=\S+)", tail(s["log"], 3)):
                pass
            if m:
                note = (note + " " + m.group(1)).strip()
        if got != self.size and not problem:
            problem = "got %s bytes, expected %d" % (got, self.size)
        if problem:
            raise BenchError(
                "%s <- %s failed (round %s): %s\n  command: %s\n  stdout: %s\n  stderr: %s\n"
                "  server log %s (tail):\n%s" % (
                    client, server, rnd, problem, " ".join(argv), out.strip()[-500:],
                    err.strip()[-1000:], s["log"], tail(s["log"], 8)))
        gib = self.size / GIB
        return dict(round=rnd, server=server, client=client, bytes=got,
                    wall_s=round(wall, 4), mb_s=round(self.size / wall / 1e6, 1),
                    server_user_s=round(su, 3), server_sys_s=round(ss, 3),
                    server_cpu_s_per_gib=round((su + ss) / gib, 4),
                    client_user_s=round(cu, 4), client_sys_s=round(cs, 4),
                    client_cpu_s_per_gib=round((cu + cs) / gib, 4),
                    other_cpu_s=round(h1[0] - h0[0] - su - ss - cu - cs, 2),
                    steal_s=round(h1[1] - h0[1], 2),
                    loadavg1=round(os.getloadavg()[0], 2), note=note)

    # ---- reporting -----------------------------------------------------------------------

    def tick_per_gib(self):
        return (1 / CLK_TCK) / (self.size / GIB)

    def machine_facts(self):
        f = []
        model = "?"
        try:
            with open("/proc/cpuinfo") as fh:
                for line in fh:
                    if line.startswith("model name"):
                        model = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        try:
            with open("/proc/sys/net/ipv4/tcp_available_ulp") as fh:
                ulp = fh.read().strip()
        except OSError:
            ulp = "(unreadable)"
        mem = "?"
        try:
            with open("/proc/meminfo") as fh:
                mem = "%.1f GiB" % (int(fh.readline().split()[1]) / (1 << 20))
        except OSError:
            pass
        ngv = cmd_out([self.nginx, "-V"]).splitlines()
        f.append(("date", datetime.datetime.now().astimezone().isoformat(timespec="seconds")))
        f.append(("hostname", socket.gethostname()))
        f.append(("cpu", model))
        f.append(("cores", "%d online, %d usable by this process" % (
            os.cpu_count(), len(os.sched_getaffinity(0)))))
        f.append(("memory", mem))
        f.append(("kernel", " ".join(platform.uname()[0:3:2]) + " " + platform.machine()))
        f.append(("loadavg at start", " ".join("%.2f" % x for x in os.getloadavg())))
        f.append(("openssl", cmd_out(["openssl", "version"])))
        f.append(("nginx", "; ".join(x for x in ngv if "version" in x or "OpenSSL" in x)))
        f.append(("curl", cmd_out(["curl", "--version"]).splitlines()[0:1][0]
                  if cmd_out(["curl", "--version"]) else "?"))
        if any(c[0] == "kxfer-serve" or c[1] == "kxfer-get" for c in self.combos):
            f.append(("kxfer", "%s (%s)" % (cmd_out([self.kxfer, "--version"]), self.kxfer)))
            ssl = [x.strip() for x in cmd_out(["ldd", self.kxfer]).splitlines()
                   if "libssl" in x or "libcrypto" in x]
            f.append(("kxfer links", "; ".join(ssl) or "?"))
        f.append(("git", cmd_out(["git", "-C", TOP, "describe", "--tags", "--always", "--dirty"],
                                 stderr=False) or "(no commit)"))
        f.append(("tcp_available_ulp", ulp))
        f.append(("kTLS available", "yes" if "tls" in ulp.split() else
                  "no (no 'tls' in /proc/sys/net/ipv4/tcp_available_ulp)"))
        f.append(("file", "%d MiB (%d bytes), page cache, 127.0.0.1" % (self.size_mb, self.size)))
        f.append(("runs", "%d per combination, round-robin, order rotated per round, "
                          "1 warm-up each" % self.runs))
        return f

    def summarize(self):
        med = {}
        for sv, cl in self.combos:
            rs = [r for r in self.rows if r["server"] == sv and r["client"] == cl]
            if not rs:
                continue
            m = lambda k: statistics.median(r[k] for r in rs)  # noqa: E731
            med[(sv, cl)] = dict(n=len(rs), wall=m("wall_s"), mbps=m("mb_s"),
                                 mbps_min=min(r["mb_s"] for r in rs),
                                 mbps_max=max(r["mb_s"] for r in rs),
                                 scpu=m("server_cpu_s_per_gib"), ccpu=m("client_cpu_s_per_gib"),
                                 other=m("other_cpu_s"))
        lines = ["| server | client | runs | MB/s (median) | MB/s min-max | wall s | "
                 "server CPU-s/GiB | client CPU-s/GiB | other CPU-s |",
                 "|---|---|--:|--:|--:|--:|--:|--:|--:|"]
        for (sv, cl), d in med.items():
            lines.append("| %s | %s | %d | %.0f | %.0f-%.0f | %.3f | %.3f | %.3f | %.2f |" % (
                sv, cl, d["n"], d["mbps"], d["mbps_min"], d["mbps_max"], d["wall"],
                d["scpu"], d["ccpu"], d["other"]))
        goals = []
        kk = med.get(("kxfer-serve", "kxfer-get"))
        nc = med.get(("nginx", "curl"))

        def verdict(ok):
            return "PASS" if ok else "MISS"
        if kk:
            goals.append("kxfer serve CPU-s/GiB (kxfer get client): %.3f  goal <= %.1f  %s" % (
                kk["scpu"], GOAL_SERVE_CPU, verdict(kk["scpu"] <= GOAL_SERVE_CPU)))
            goals.append("kxfer get CPU-s/GiB (kxfer serve server):   %.3f  goal <= %.1f  %s" % (
                kk["ccpu"], GOAL_GET_CPU, verdict(kk["ccpu"] <= GOAL_GET_CPU)))
        if kk and nc:
            r = kk["mbps"] / nc["mbps"]
            goals.append("MB/s kxfer get<-kxfer serve / curl<-nginx:   %.2f  goal >= %.1f  %s" % (
                r, GOAL_SPEEDUP, verdict(r >= GOAL_SPEEDUP)))
        ctx = []
        ks, kc = med.get(("kxfer-serve", "curl")), med.get(("nginx", "kxfer-get"))
        if nc and ks:
            ctx.append("server only (curl client): kxfer serve / nginx  MB/s x%.2f, "
                       "server CPU-s/GiB %.3f vs %.3f" % (ks["mbps"] / nc["mbps"], ks["scpu"],
                                                          nc["scpu"]))
        if nc and kc:
            ctx.append("client only (nginx server): kxfer get / curl  MB/s x%.2f, "
                       "client CPU-s/GiB %.3f vs %.3f" % (kc["mbps"] / nc["mbps"], kc["ccpu"],
                                                          nc["ccpu"]))
        return lines, goals, ctx

    def write_results(self, lines, goals, ctx):
        os.makedirs(self.outdir, exist_ok=True)
        fields = ["round", "server", "client", "bytes", "wall_s", "mb_s", "server_user_s",
                  "server_sys_s", "server_cpu_s_per_gib", "client_user_s", "client_sys_s",
                  "client_cpu_s_per_gib", "other_cpu_s", "steal_s", "loadavg1", "note"]
        with open(os.path.join(self.outdir, "results.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(self.rows)
        with open(os.path.join(self.outdir, "table.md"), "w") as f:
            f.write("# kxfer benchmark %s\n\n" % os.path.basename(self.outdir))
            f.write("%d MiB file from the page cache over 127.0.0.1, TLS 1.3 %s, medians of %d "
                    "runs (MB/s = 10^6 bytes/s, wall clock of the client process; CPU = "
                    "user+sys; other CPU-s = CPU time used during a run by anything but the "
                    "server and the client, i.e. disturbance). Server CPU comes in clock ticks: "
                    "resolution %.3f CPU-s/GiB.\n\n"
                    % (self.size_mb, SUITE, self.runs, self.tick_per_gib()))
            f.write("\n".join(lines) + "\n\n")
            if goals:
                f.write("Goals:\n\n" + "".join("- %s\n" % g for g in goals) + "\n")
            if ctx:
                f.write("".join("- %s\n" % c for c in ctx) + "\n")
            f.write("Machine: see machine.txt; raw runs: results.csv.\n")
        self.facts.append(("loadavg at end", " ".join("%.2f" % x for x in os.getloadavg())))
        with open(os.path.join(self.outdir, "machine.txt"), "w") as f:
            for k, v in self.facts:
                f.write("%-18s %s\n" % (k + ":", v))

    # ---- main ----------------------------------------------------------------------------

    def run(self):
        servers = sorted({c[0] for c in self.combos})
        self.make_tmp()
        if "nginx" in servers:
            self.start_nginx()
        if "kxfer-serve" in servers:
            self.start_kxfer()
        self.facts = self.machine_facts()
        bg = background_busy()
        self.facts.append(("background load", "%.0f%% of all CPUs busy over 2 s before the runs"
                           % (bg * 100)))
        if bg > 0.10:
            log("warning: the machine is %.0f%% busy with other work; numbers will be noisy"
                % (bg * 100))
        for name in servers:
            s = self.servers[name]
            suite = negotiated_suite(s["port"], s["cafile"])
            self.facts.append(("%s handshake" % name, suite + " (openssl s_client)"))
            self.facts.append(("%s command" % name, " ".join(s["argv"])))
            if SUITE not in suite:
                raise BenchError("%s does not negotiate %s: %s" % (name, SUITE, suite))
        for sv, cl in self.combos:
            self.facts.append(("%s <- %s" % (cl, sv), " ".join(self.client_argv(sv, cl))))
        for sv, cl in self.combos:
            log("warm-up %s <- %s" % (cl, sv))
            self.transfer(sv, cl, "warm-up")
        n = len(self.combos)
        for rnd in range(1, self.runs + 1):
            k = (rnd - 1) % n
            for sv, cl in self.combos[k:] + self.combos[:k]:
                r = self.transfer(sv, cl, rnd)
                self.rows.append(r)
                log("round %d/%d %-11s <- %-11s %7.1f MB/s  server %.3f  client %.3f CPU-s/GiB"
                    % (rnd, self.runs, cl, sv, r["mb_s"], r["server_cpu_s_per_gib"],
                       r["client_cpu_s_per_gib"]))
        lines, goals, ctx = self.summarize()
        self.write_results(lines, goals, ctx)
        print("kxfer benchmark: %d MiB, %s, 127.0.0.1, medians of %d runs (MB/s = 1e6 B/s; "
              "server CPU resolution %.3f CPU-s/GiB)\n"
              % (self.size_mb, SUITE, self.runs, self.tick_per_gib()))
        print("\n".join(lines))
        if goals:
            print()
            print("\n".join(goals))
        if ctx:
            print()
            print("\n".join(ctx))
        shown = os.path.relpath(self.outdir)
        if shown.startswith(".."):
            shown = self.outdir
        print("\nresults: %s/{table.md,results.csv,machine.txt}" % shown)

    def cleanup(self):
        if self.client_pid:
            try:
                os.kill(self.client_pid, signal.SIGKILL)
                os.waitpid(self.client_pid, 0)
            except OSError:
                pass
        for p in self.procs.values():
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGTERM)   # nginx: fast shutdown; kxfer: graceful
                except OSError:
                    pass
        for p in self.procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)   # own session: the server and its workers
                except OSError:
                    pass
                p.wait()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    bench = None

    def on_signal(signum, frame):
        raise Interrupted("signal %d" % signum)

    def on_alarm(signum, frame):
        if bench and bench.client_pid:
            log("client pid %d exceeded %ds, killing it" % (bench.client_pid, bench.timeout))
            try:
                os.kill(bench.client_pid, signal.SIGKILL)
            except OSError:
                pass
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)
    try:
        bench = Bench()
        bench.run()
        return 0
    except BenchError as e:
        log("FAILED: %s" % e)
        return 1
    except Interrupted as e:
        log("interrupted (%s)" % e)
        return 130
    except subprocess.CalledProcessError as e:
        log("FAILED: %s: %s" % (" ".join(e.cmd), (e.stderr or b"").decode(errors="replace")))
        return 1
    finally:
        if bench:
            bench.cleanup()


if __name__ == "__main__":
    sys.exit(main())
