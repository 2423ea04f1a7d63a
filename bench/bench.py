#!/usr/bin/env python3
"""kxfer benchmark driver; started by bench/run.sh (see there for the environment).

For each network (BENCH_NET: loopback, then netns) and in it each server (kxfer serve --ktls
off, nginx; on a kernel with the tls ULP also kxfer serve --ktls on and nginx with
`ssl_conf_command Options KTLS`), one after the other: start the server alone, check that it
negotiates TLS 1.3 TLS_AES_128_GCM_SHA256, and time the clients (kxfer get, curl, wget)
downloading the same file with ONE hyperfine invocation:

    hyperfine -N --warmup 1 --runs BENCH_RUNS --export-json ... --export-markdown ...
              -n kxfer-get 'bash bench/run.sh --fetch kxfer-get -- kxfer get ...' -n curl ...

Networks: loopback = server and clients in this network namespace, https://127.0.0.1 over
lo (MTU 65536).  netns = two network namespaces made for the run (kxb-srv-PID, kxb-cli-PID)
joined by a veth pair with MTU 1500, 198.18.0.1/30 (server) and 198.18.0.2/30 (client); the
server runs under `ip netns exec kxb-srv-PID`, hyperfine (and so the clients) under
`ip netns exec kxb-cli-PID`, https://198.18.0.1.  The namespaces are removed at the end, also
after an error or Ctrl-C.  Default: both when running as root and the namespaces can be
made, else loopback only (the results say why netns was not measured).

Each timed command is bench/run.sh's --fetch wrapper around the client command: it reads the
server's CPU time (/proc/PID/stat) right before and right after the client, and checks the
byte count (see run.sh).  hyperfine runs the commands one after the other (warm-up, then
the runs of the first command, then the second, ...), not interleaved.

Writes into the results dir: hyperfine-NET-SERVER.json and .md (hyperfine's own exports),
runs.csv (one line per run and warm-up, from the wrapper), meta.json (what was run, on which
networks, which servers were unavailable and why), machine.txt; then bench/report.py computes
results.csv, table.md and chart.svg from those and regenerates docs/benchmarks.md (unless
BENCH_NO_DOCS=1).

Python 3 standard library only.
"""
import csv
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True      # no bench/__pycache__ from importing report.py
import report  # noqa: E402  (bench/report.py)
from host import (  # noqa: E402  (bench/host.py)
    BenchError,
    Unavailable,
    Interrupted,
    log,
    env_int,
    env_list,
    cmd_out,
    first_line,
    host_busy,
    background_busy,
    children_of,
    free_port,
    tail,
    wait_port,
    Netns,
    netns_remove_stale,
    negotiated_suite,
    ktls_status,
    read_tls_stat,
    bash_time,
    cpu_model,
    NETNS_ADDR,
    lo_describe,
)

SUITE = "TLS_AES_128_GCM_SHA256"
CLK_TCK = os.sysconf("SC_CLK_TCK")
WARMUP = 1

SERVERS = ["kxfer-serve", "nginx", "kxfer-serve-ktls", "nginx-ktls"]
KTLS_SERVERS = {"kxfer-serve-ktls", "nginx-ktls"}
CLIENTS = ["kxfer-get", "curl", "wget"]
NETS = ["loopback", "netns"]


class Bench:
    def __init__(self):
        self.size_mb = env_int("BENCH_SIZE_MB", 1024)
        self.runs = env_int("BENCH_RUNS", 5)
        self.size = self.size_mb << 20
        self.kxfer = os.environ.get("KXFER") or os.path.join(TOP, "build", "kxfer")
        self.nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.hyperfine = shutil.which("hyperfine") or "hyperfine"
        self.servers = env_list("BENCH_SERVERS", SERVERS)
        self.clients = env_list("BENCH_CLIENTS", CLIENTS)
        self.nets_asked = os.environ.get("BENCH_NET", "").strip() != ""
        self.nets = env_list("BENCH_NET", NETS)
        self.netns = None         # Netns while the namespaces exist
        self.netns_note = ""      # why netns is not measured (default BENCH_NET only)
        self.no_docs = os.environ.get("BENCH_NO_DOCS", "") not in ("", "0")
        self.outdir = os.environ.get("BENCH_OUT") or self.default_outdir()
        # hyperfine of one server: every transfer at >= 20 MB/s, plus 30 s slack per run
        n = (self.runs + WARMUP) * len(self.clients)
        self.timeout = int(n * (30 + self.size / 20e6)) + 60
        self.tmp = None
        self.proc = None          # the running server
        self.hf = None            # the running hyperfine
        self.meta = {}
        self.run_rows = []
        self.created_outdir = False
        self.done = False

    @staticmethod
    def default_outdir():
        base = os.path.join(HERE, "results", "%s-%s" % (
            datetime.date.today().isoformat(), socket.gethostname().split(".")[0]))
        d, n = base, 2
        while os.path.exists(d):
            d, n = "%s-%d" % (base, n), n + 1
        return d

    # ---- setup ---------------------------------------------------------------------------

    def make_tmp(self):
        self.tmp = tempfile.mkdtemp(prefix="kxfer-bench.")
        os.chmod(self.tmp, 0o755)     # nginx workers may run as another user
        self.root = os.path.join(self.tmp, "root")
        os.mkdir(self.root)
        self.fname = "data-%dm.bin" % self.size_mb
        path = os.path.join(self.root, self.fname)
        log("writing the %d MiB test file %s" % (self.size_mb, path))
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
        # nginx's certificate (kxfer serve makes its own in its state dir)
        d = os.path.join(self.tmp, "pki")
        os.mkdir(d)
        self.ng_cert, self.ng_key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                        "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:%s" % NETNS_ADDR[0],
                        "-keyout", self.ng_key, "-out", self.ng_cert],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
        os.chmod(self.ng_key, 0o644)  # throwaway key; nginx workers may run as another user

    def net(self, name):
        """Where a network's servers listen and what runs a command in its namespaces:
        dict(name, host, srv: argv prefix for servers, cli: argv prefix for hyperfine)."""
        if name == "netns":
            n = self.netns
            return dict(name=name, host=n.addr_srv, srv=n.prefix(n.srv), cli=n.prefix(n.cli))
        return dict(name=name, host="127.0.0.1", srv=[], cli=[])

    def start_server(self, net, name):
        """Starts one server; returns dict(port, pids, cafile, log, argv, config)."""
        d = os.path.join(self.tmp, "%s-%s" % (net["name"], name))
        os.mkdir(d)
        try:
            if name.startswith("nginx"):
                return self.start_nginx(net, name, d)
            return self.start_kxfer(net, name, d)
        except BenchError as e:
            if name in KTLS_SERVERS:   # e.g. an nginx or OpenSSL without kTLS support
                raise Unavailable("did not start: %s" % str(e).replace("\n", " | "))
            raise

    def start_nginx(self, net, name, d):
        tmpl = "nginx-ktls.conf.in" if name in KTLS_SERVERS else "nginx.conf.in"
        port = free_port()
        user = ""
        if os.geteuid() == 0:
            import grp
            import pwd
            user = "user %s %s;" % (pwd.getpwuid(0).pw_name, grp.getgrgid(0).gr_name)
        with open(os.path.join(HERE, tmpl)) as f:
            conf = f.read()
        listen = "listen 127.0.0.1:@PORT@"    # the templates listen on loopback
        if conf.count(listen) != 1:
            raise BenchError("bench/%s: expected one '%s'" % (tmpl, listen))
        conf = conf.replace(listen, "listen %s:@PORT@" % net["host"])
        for k, v in (("@USER@", user), ("@TMP@", d), ("@PORT@", str(port)),
                     ("@ROOT@", self.root), ("@CERT@", self.ng_cert), ("@KEY@", self.ng_key)):
            conf = conf.replace(k, v)
        confpath = os.path.join(d, "nginx.conf")
        with open(confpath, "w") as f:
            f.write(conf)
        errlog = os.path.join(d, "error.log")
        argv = net["srv"] + [self.nginx, "-p", d + "/", "-e", errlog, "-c", confpath]
        with open(os.path.join(d, "stderr.log"), "wb") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         start_new_session=True)
        wait_port(port, self.proc, 10, errlog, net["host"], net["cli"])
        self.check_exec(self.proc.pid, self.nginx)
        master = self.proc.pid
        pids = [master] + children_of(master)
        for _ in range(40):
            if len(pids) >= 2:
                break
            time.sleep(0.05)
            pids = [master] + children_of(master)
        if len(pids) != 2:
            raise BenchError("%s: expected a master and one worker, found pids %s" % (name, pids))
        return dict(port=port, pids=pids, cafile=self.ng_cert, log=errlog, argv=argv,
                    config="bench/" + tmpl)

    def start_kxfer(self, net, name, d):
        ktls = "on" if name in KTLS_SERVERS else "off"
        logfile = os.path.join(d, "serve.log")
        argv = net["srv"] + [self.kxfer, "serve", "--threads", "1", "--ktls", ktls, "--ciphers",
                             SUITE, "--root", self.root]
        if net["host"] == "127.0.0.1":
            argv += ["--state-dir", os.path.join(d, "state")]  # its own self-signed cert
            cafile = os.path.join(d, "state", "cert.pem")
        else:
            # kxfer serve's self-signed certificate names localhost, 127.0.0.1 and ::1 only:
            # the bench's (nginx's; P-256 as well) also names 198.18.0.1
            argv += ["--cert", self.ng_cert, "--key", self.ng_key]
            cafile = self.ng_cert
        argv += ["--listen", "%s:0" % net["host"]]
        with open(logfile, "wb") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         start_new_session=True)
        port = None
        end = time.monotonic() + 15
        while time.monotonic() < end:
            with open(logfile, errors="replace") as f:
                m = re.search(r"kxfer serve: listening on https://%s:(\d+)/" % re.escape(
                    net["host"]), f.read())
            if m:
                port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if port is None:
            why = tail(logfile, 3).replace("\n", " | ")
            self.proc.poll()
            if name in KTLS_SERVERS:
                raise Unavailable("'%s' did not start: %s" % (
                    " ".join(argv[len(net["srv"]):][:6]), why))
            raise BenchError("kxfer serve did not print its listening line (status %s).\n"
                             "  command: %s\n  log %s:\n%s" % (
                                 self.proc.returncode, " ".join(argv), logfile, tail(logfile)))
        wait_port(port, self.proc, 10, logfile, net["host"], net["cli"])
        self.check_exec(self.proc.pid, self.kxfer)
        return dict(port=port, pids=[self.proc.pid], cafile=cafile, log=logfile, argv=argv,
                    config=None)

    @staticmethod
    def check_exec(pid, binary):
        """The pid measured must be the server itself, not `ip netns exec` (which execs the
        command: iproute2 forks only with -b/-all)."""
        try:
            exe = os.readlink("/proc/%d/exe" % pid)
        except OSError as e:
            raise BenchError("server pid %d: %s" % (pid, e))
        if os.path.basename(exe) == "ip":
            raise BenchError("server pid %d is still %s, not %s: 'ip netns exec' forked"
                             % (pid, exe, binary))

    def stop_server(self):
        p, self.proc = self.proc, None
        if p is None:
            return
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)   # nginx: fast shutdown; kxfer: graceful
            except OSError:
                pass
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)   # own session: the server and its workers
            except OSError:
                pass
            p.wait()

    # ---- the commands --------------------------------------------------------------------

    def client_argv(self, client, host, port, cafile):
        url = "https://%s:%d/%s" % (host, port, self.fname)
        if client == "kxfer-get":
            # -o /dev/null: kxfer get writes devices in place; --json (on stdout) has the bytes
            return [self.kxfer, "get", "--ca", cafile, "--json", "-o", "/dev/null", url]
        if client == "curl":
            return ["curl", "-q", "-sS", "--cacert", cafile, "-o", "/dev/null",
                    "-w", "%{http_code} %{size_download}", url]
        if client == "wget":
            return ["wget", "--no-config", "-nv", "--tries=1", "--ca-certificate=" + cafile,
                    "-O", "/dev/null", url]
        raise BenchError("unknown client %s" % client)

    def wrapped(self, client, argv):
        return ["bash", os.path.join(HERE, "run.sh"), "--fetch", client, "--"] + argv

    # ---- one server ----------------------------------------------------------------------

    def bench_server(self, net, name):
        entry = dict(net=net["name"], name=name, status="ok")
        self.meta["servers"].append(entry)
        what = "%s %s" % (net["name"], name)
        if name in KTLS_SERVERS and not self.ktls[0]:
            entry["status"] = "unavailable: " + self.ktls[1]
            log("%s: unavailable: %s" % (what, self.ktls[1]))
            return
        try:
            s = self.start_server(net, name)
        except Unavailable as e:
            entry["status"] = "unavailable: %s" % e
            log("%s: unavailable: %s" % (what, e))
            self.stop_server()
            return
        try:
            self._bench_server(net, name, s, entry)
        finally:
            self.stop_server()
        if name.startswith("kxfer"):
            # the access log says which path carried each response
            with open(s["log"], errors="replace") as f:
                paths = re.findall(r" tx=(\S+) rx=\S+$", f.read(), re.M)
            entry["server_tx_paths"] = {p: paths.count(p) for p in sorted(set(paths))}

    def _bench_server(self, net, name, s, entry):
        what = "%s %s" % (net["name"], name)
        suite = negotiated_suite(s["port"], s["cafile"], net["host"], net["cli"])
        entry.update(command=s["argv"], config=s["config"], handshake=suite,
                     pids=s["pids"])
        if SUITE not in suite or "TLSv1.3" not in suite:
            raise BenchError("%s does not negotiate TLSv1.3 %s: %s" % (what, SUITE, suite))
        tag = "%s-%s" % (net["name"], name)
        fdir = os.path.join(self.tmp, "fetch-" + tag)
        os.mkdir(fdir)
        entry["hyperfine_json"] = "hyperfine-%s.json" % tag
        entry["hyperfine_md"] = "hyperfine-%s.md" % tag
        jsonp = os.path.join(self.outdir, entry["hyperfine_json"])
        mdp = os.path.join(self.outdir, entry["hyperfine_md"])
        # netns: hyperfine itself runs in the client namespace (`ip netns exec CLI hyperfine
        # ...`), so what it times (and its user/system figures) is exactly the command timed
        # on loopback: the wrapper and the client.  Putting `ip netns exec CLI` inside each
        # timed command instead would add its setns, mount-namespace unshare, /sys remount
        # and one more exec to every run (about 1 ms of wall and 1 ms of CPU here), charged
        # to the netns rows' clients only.
        argv = net["cli"] + [
            self.hyperfine, "-N", "--warmup", str(WARMUP), "--runs", str(self.runs),
            "--time-unit", "millisecond", "--export-json", jsonp, "--export-markdown", mdp]
        entry["clients"] = {}
        for c in self.clients:
            cargv = self.client_argv(c, net["host"], s["port"], s["cafile"])
            entry["clients"][c] = shlex.join(cargv)
            argv += ["-n", c, shlex.join(self.wrapped(c, cargv))]
        entry["hyperfine"] = argv
        # kernel TLS counters of the server's namespace (/proc/PID/net is PID's namespace;
        # on loopback the clients' sockets count there too)
        tls_path = "/proc/%d/net/tls_stat" % s["pids"][0]
        env = dict(os.environ, BENCH_FETCH_DIR=fdir, BENCH_SIZE_BYTES=str(self.size),
                   BENCH_SERVER_PIDS=" ".join(str(p) for p in s["pids"]),
                   BENCH_TLS_STAT=tls_path)
        log("%s: hyperfine, %s, warm-up %d + %d runs each" % (
            what, ", ".join(self.clients), WARMUP, self.runs))
        tls0 = read_tls_stat(tls_path)
        self.hf = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                   stdout=sys.stderr, start_new_session=True)
        try:
            rc = self.hf.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            hf, self.hf = self.hf, None
            if hf.poll() is None:
                os.killpg(hf.pid, signal.SIGKILL)
                hf.wait()
        tls1 = read_tls_stat(tls_path)
        if tls0 is not None and tls1 is not None:
            entry["tls_stat_delta"] = {k: tls1[k] - tls0.get(k, 0) for k in tls1
                                       if tls1[k] != tls0.get(k, 0)}
        failure = os.path.join(fdir, "failure.txt")
        if rc != 0:
            why = ("hyperfine ran longer than %d s; killed" % self.timeout) if rc is None else (
                "hyperfine exited %d" % rc)
            if os.path.exists(failure):
                with open(failure, errors="replace") as f:
                    why += "; the failed transfer:\n" + f.read().rstrip()
            raise BenchError("%s: %s\n  server log %s (tail):\n%s" % (
                what, why, s["log"], tail(s["log"], 8)))
        if self.proc.poll() is not None:
            raise BenchError("%s exited (status %s) during the runs; log %s:\n%s" % (
                what, self.proc.returncode, s["log"], tail(s["log"])))
        self.collect_runs(net["name"], name, os.path.join(fdir, "runs.log"))

    def collect_runs(self, net, server, path):
        with open(path) as f:
            lines = [ln.split() for ln in f if ln.strip()]
        for c in self.clients:
            rs = [ln for ln in lines if ln[0] == c]
            if len(rs) != WARMUP + self.runs:
                raise BenchError("%s: %s <- %s: %d runs logged by the wrapper, expected %d" % (
                    net, c, server, len(rs), WARMUP + self.runs))
            for i, ln in enumerate(rs):
                _, got, t0, t1, s0, s1, tx0, tx1, rx0, rx1, path_, b0, b1, cu, cs = ln
                scpu = (int(s1) - int(s0)) / CLK_TCK
                ccpu = bash_time(cu) + bash_time(cs)
                self.run_rows.append(dict(
                    net=net, server=server, client=c,
                    run=("warm-up" if i < WARMUP else i - WARMUP + 1),
                    bytes=int(got), client_wall_s="%.6f" % (float(t1) - float(t0)),
                    server_cpu_s="%.2f" % scpu, client_cpu_s="%.3f" % ccpu,
                    other_cpu_s="%.2f" % ((int(b1) - int(b0)) / CLK_TCK - scpu - ccpu),
                    ktls_tx_setups=int(tx1) - int(tx0), ktls_rx_setups=int(rx1) - int(rx0),
                    client_path=path_))

    # ---- facts ---------------------------------------------------------------------------

    def machine_facts(self):
        f = []
        model, flags = cpu_model()
        mem = "?"
        try:
            with open("/proc/meminfo") as fh:
                mem = "%.1f GiB" % (int(fh.readline().split()[1]) / (1 << 20))
        except OSError:
            pass
        ngv = cmd_out([self.nginx, "-V"]).splitlines()
        wgv = cmd_out(["wget", "--version"])
        wtls = re.search(r"[+](ssl/\S+)", wgv)
        f.append(("date", datetime.datetime.now().astimezone().isoformat(timespec="seconds")))
        f.append(("hostname", socket.gethostname()))
        f.append(("cpu", model))
        f.append(("cpu flags", " ".join(x for x in ("aes", "pclmulqdq", "avx2", "vaes",
                                                    "vpclmulqdq", "avx512f") if x in flags)
                  or "(none of aes pclmulqdq avx2 vaes vpclmulqdq avx512f)"))
        f.append(("cores", "%d online, %d usable by this process" % (
            os.cpu_count(), len(os.sched_getaffinity(0)))))
        f.append(("memory", mem))
        f.append(("kernel", "%s %s %s" % (platform.system(), platform.release(),
                                          platform.machine())))
        f.append(("kTLS", ("available: " if self.ktls[0] else "unavailable: ") + self.ktls[1]))
        f.append(("openssl", cmd_out(["openssl", "version"])))
        f.append(("kxfer", "%s (%s)" % (cmd_out([self.kxfer, "--version"]), self.kxfer)))
        f.append(("nginx", "; ".join(x.strip() for x in ngv if "version" in x or "OpenSSL" in x)
                  or "?"))
        f.append(("curl", first_line(cmd_out(["curl", "--version"]))))
        f.append(("wget", "%s (TLS: %s)" % (first_line(wgv), wtls.group(1) if wtls else "?")))
        f.append(("hyperfine", cmd_out([self.hyperfine, "--version"])))
        gp = shutil.which("gnuplot")
        f.append(("gnuplot", cmd_out([gp, "--version"]) if gp else "missing (no chart)"))
        f.append(("git", cmd_out(["git", "-C", TOP, "describe", "--tags", "--always", "--dirty"],
                                 stderr=False) or "(no commit)"))
        f.append(("loadavg at start", " ".join("%.2f" % x for x in os.getloadavg())))
        return f

    # ---- networks ------------------------------------------------------------------------

    def setup_nets(self):
        """Makes the netns namespaces when BENCH_NET has netns.  Asked for explicitly, a
        failure fails the bench; by default netns is left out, with the reason."""
        if "netns" not in self.nets:
            return
        if os.geteuid() == 0:
            stale = netns_remove_stale()
            if stale:
                log("removed namespaces of bench runs that are gone: %s" % " ".join(stale))
        self.netns = Netns()
        try:
            self.netns.up()
        except BenchError as e:
            self.netns.down()
            self.netns = None
            if self.nets_asked:
                raise BenchError("BENCH_NET=netns: %s" % e)
            self.nets.remove("netns")
            self.netns_note = str(e)
            log("netns not measured: %s (loopback only)" % e)
            return
        log("netns: %s (server, %s) -- veth MTU %d -- %s (client, %s)" % (
            self.netns.srv, self.netns.addr_srv, self.netns.mtu, self.netns.cli,
            self.netns.addr_cli))

    def net_info(self):
        info = {"loopback": dict(
            url_host="127.0.0.1", link="lo",
            text="server and clients in the bench's network namespace, https://127.0.0.1 "
                 "over lo (%s)" % lo_describe())}
        if self.netns:
            n = self.netns
            info["netns"] = dict(
                url_host=n.addr_srv, link="veth", mtu=n.mtu, server_ns=n.srv, client_ns=n.cli,
                server_dev=n.dev_srv, client_dev=n.dev_cli, setup=n.setup,
                text="server in namespace %s (%s/30), clients in %s (%s/30), joined by a veth "
                     "pair (%s), https://%s" % (n.srv, n.addr_srv, n.cli, n.addr_cli,
                                                 n.describe(), n.addr_srv))
        return info

    # ---- main ----------------------------------------------------------------------------

    def run(self):
        self.ktls = ktls_status()
        if not os.path.isdir(self.outdir):
            os.makedirs(self.outdir)
            self.created_outdir = True
        self.setup_nets()
        self.make_tmp()
        facts = self.machine_facts()
        bg = background_busy()
        facts.append(("background load", "%.0f%% of all CPUs busy over 1 s before the runs"
                      % (bg * 100)))
        if bg > 0.10:
            log("warning: the machine is %.0f%% busy with other work; numbers will be noisy"
                % (bg * 100))
        nets = self.net_info()
        for k in self.nets:
            facts.append(("net " + k, nets[k]["text"]))
        if self.netns_note:
            facts.append(("net netns", "not measured: " + self.netns_note))
        self.meta = dict(
            size_bytes=self.size, size_mb=self.size_mb, runs=self.runs, warmup=WARMUP,
            suite=SUITE, clk_tck=CLK_TCK, clients=self.clients, servers=[],
            nets=self.nets, net_info=nets, netns_note=self.netns_note,
            ktls_available=self.ktls[0], ktls_reason=self.ktls[1],
            command="BENCH_SIZE_MB=%d BENCH_RUNS=%d BENCH_NET=%s bench/run.sh" % (
                self.size_mb, self.runs, ",".join(self.nets)),
            tmp=self.tmp, top=TOP,
            started=datetime.datetime.now().astimezone().isoformat(timespec="seconds"))
        for net in self.nets:     # each network's servers one after the other
            for name in self.servers:
                self.bench_server(self.net(net), name)
        self.meta["finished"] = datetime.datetime.now().astimezone().isoformat(
            timespec="seconds")
        facts.append(("loadavg at end", " ".join("%.2f" % x for x in os.getloadavg())))
        facts.append(("file", "%d MiB (%d bytes), page cache, TLSv1.3 %s, networks %s"
                      % (self.size_mb, self.size, SUITE, ", ".join(self.nets))))
        facts.append(("runs", "hyperfine -N --warmup %d --runs %d per command, one hyperfine "
                              "per server and network" % (WARMUP, self.runs)))
        with open(os.path.join(self.outdir, "machine.txt"), "w") as f:
            for k, v in facts:
                f.write("%-17s %s\n" % (k + ":", v))
        self.meta["machine"] = dict(facts)
        with open(os.path.join(self.outdir, "meta.json"), "w") as f:
            json.dump(self.meta, f, indent=1)
            f.write("\n")
        fields = ["net", "server", "client", "run", "bytes", "client_wall_s", "server_cpu_s",
                  "client_cpu_s", "other_cpu_s", "ktls_tx_setups", "ktls_rx_setups",
                  "client_path"]
        with open(os.path.join(self.outdir, "runs.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(self.run_rows)
        self.done = True    # measured: from here on the dir stays, even if the report fails
        print(report.generate(self.outdir, docs=not self.no_docs))

    def cleanup(self):
        if self.hf is not None and self.hf.poll() is None:
            try:
                os.killpg(self.hf.pid, signal.SIGKILL)   # hyperfine, the wrapper, the client
            except OSError:
                pass
            self.hf.wait()
        self.stop_server()
        if self.netns:            # after the servers: nothing is left in the namespaces
            self.netns.down()
            self.netns = None
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if self.created_outdir and not self.done:
            log("no results: removing %s" % self.outdir)   # a failed run leaves nothing
            shutil.rmtree(self.outdir, ignore_errors=True)


def main():
    bench = None

    def on_signal(signum, frame):
        raise Interrupted("signal %d" % signum)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    try:
        bench = Bench()
        bench.run()
        return 0
    except BenchError as e:
        log("FAILED: %s" % e)
        return 1
    except report.ReportError as e:
        log("FAILED: report: %s (the measurements are kept: fix it, then bench/run.sh "
            "--report %s)" % (e, bench.outdir if bench else "DIR"))
        return 1
    except Interrupted as e:
        log("interrupted (%s)" % e)
        return 130
    except subprocess.CalledProcessError as e:
        log("FAILED: %s: %s" % (" ".join(e.cmd), (e.stderr or b"").decode(errors="replace")))
        return 1
    finally:
        if bench:
            for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(s, signal.SIG_IGN)   # a second Ctrl-C must not stop the cleanup
            bench.cleanup()


if __name__ == "__main__":
    sys.exit(main())
