"""Host helpers for bench/bench.py: environment parsing, processes, ports, the machine's
load, kernel TLS status and counters, CPU model.  Python 3 standard library only."""
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    pass


class Unavailable(Exception):
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


def env_list(name, known):
    v = os.environ.get(name, "")
    if not v.strip():
        return list(known)
    want = [x.strip() for x in v.split(",") if x.strip()]
    bad = [x for x in want if x not in known]
    if bad:
        raise BenchError("%s: unknown %s; known: %s" % (name, ", ".join(bad), ",".join(known)))
    return [x for x in known if x in want]


def cmd_out(argv, stderr=True):
    """Output of a short command (stdout+stderr), or '' when it cannot run."""
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT if stderr else subprocess.DEVNULL,
                           stdin=subprocess.DEVNULL, timeout=20, check=False)
        return r.stdout.decode(errors="replace").strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def first_line(s):
    return s.splitlines()[0] if s else "?"


def host_busy():
    """Busy seconds (not idle/iowait) of all CPUs together, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        return (sum(v) - v[3] - v[4]) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return 0.0


def background_busy(seconds=1.0):
    """Fraction of all CPUs busy while we do nothing (other users' load)."""
    b0 = host_busy()
    time.sleep(seconds)
    return (host_busy() - b0) / seconds / os.cpu_count()


def children_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        pass
    kids = []
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


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:]).rstrip()
    except OSError:
        return "(no log)"


def can_connect(host, port, prefix=()):
    """Whether a TCP connection to host:port works; prefix: e.g. ['ip', 'netns', 'exec', NS]
    to try it from another network namespace (bash's /dev/tcp there)."""
    if not prefix:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            return False
    try:
        argv = list(prefix) + ["bash", "-c", "exec 3<>/dev/tcp/%s/%d" % (host, port)]
        return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=5, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def wait_port(port, proc, seconds, logfile, host="127.0.0.1", prefix=()):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise BenchError("server exited with status %s during startup; log %s:\n%s"
                             % (proc.returncode, logfile, tail(logfile)))
        if can_connect(host, port, prefix):
            return
        time.sleep(0.05)
    raise BenchError("nothing listens on %s:%d after %ds%s; log %s:\n%s"
                     % (host, port, seconds, " (from '%s')" % " ".join(prefix) if prefix else "",
                        logfile, tail(logfile)))


def negotiated_suite(port, cafile, host="127.0.0.1", prefix=()):
    """The TLS version and suite a plain `openssl s_client` gets from host:port (run after
    prefix, e.g. ['ip', 'netns', 'exec', NS], when given)."""
    try:
        r = subprocess.run(list(prefix) + ["openssl", "s_client", "-connect",
                                           "%s:%d" % (host, port), "-CAfile", cafile, "-brief"],
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


def ktls_status():
    """(available, reason): the kernel's TLS ULP, as the bench decides on kTLS rows."""
    try:
        with open("/proc/sys/net/ipv4/tcp_available_ulp") as f:
            ulps = f.read().split()
    except OSError as e:
        return False, "cannot read /proc/sys/net/ipv4/tcp_available_ulp (%s)" % e.strerror
    if "tls" in ulps:
        return True, "'tls' in /proc/sys/net/ipv4/tcp_available_ulp (%s)" % " ".join(ulps)
    rel = platform.release()
    mods = "/lib/modules/%s/kernel/net/tls" % rel
    if os.path.isdir(mods):
        return False, ("kernel %s: no 'tls' in /proc/sys/net/ipv4/tcp_available_ulp (%s), but "
                       "the module is there: run 'modprobe tls' as root and rerun"
                       % (rel, " ".join(ulps) or "empty"))
    return False, ("kernel %s has no TLS ULP: no 'tls' in /proc/sys/net/ipv4/tcp_available_ulp "
                   "(%s) and no tls module in /lib/modules/%s (CONFIG_TLS unset)"
                   % (rel, " ".join(ulps) or "empty", rel))


def read_tls_stat(path="/proc/net/tls_stat"):
    """The kernel TLS counters of one network namespace (/proc/PID/net/tls_stat: PID's)."""
    try:
        with open(path) as f:
            return {k: int(v) for k, v in (ln.split() for ln in f if ln.strip())}
    except (OSError, ValueError):
        return None


def bash_time(s):
    """Seconds from bash's `times` format, e.g. 0m0.046s."""
    m = re.fullmatch(r"(\d+)m([\d.,]+)s", s)
    if not m:
        raise BenchError("cannot parse the time %r from the wrapper" % s)
    return int(m.group(1)) * 60 + float(m.group(2).replace(",", "."))


def cpu_model():
    model, flags = "?", []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "?":
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = line.split(":", 1)[1].split()
    except OSError:
        pass
    return model, flags


# ---- network namespaces (BENCH_NET=netns) ---------------------------------------------------

NETNS_PREFIX = ("kxb-srv-", "kxb-cli-")
NETNS_ADDR = ("198.18.0.1", "198.18.0.2")   # RFC 2544's benchmarking range, a /30
NETNS_MTU = 1500


def ip_binary():
    for p in (shutil.which("ip"), "/usr/sbin/ip", "/sbin/ip"):
        if p and os.access(p, os.X_OK):
            return p
    return None


def run_ip(args, log_to=None):
    """Runs `ip ARGS`; raises BenchError with what ip said.  log_to: a list that gets the
    command line (the results show how the namespaces were made)."""
    ipb = ip_binary()
    if ipb is None:
        raise BenchError("no 'ip' command (Debian package: iproute2)")
    if log_to is not None:
        log_to.append("ip " + " ".join(args))
    try:
        r = subprocess.run([ipb] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        raise BenchError("'ip %s' failed: %s" % (" ".join(args), e))
    if r.returncode != 0:
        raise BenchError("'ip %s' failed (%d): %s" % (
            " ".join(args), r.returncode,
            r.stdout.decode(errors="replace").strip().replace("\n", " | ") or "no message"))
    return r.stdout.decode(errors="replace")


def lo_describe():
    """lo of this namespace: MTU and qdisc."""
    try:
        d = run_ip(["-d", "link", "show", "lo"])
    except BenchError as e:
        return str(e)
    return ", ".join(re.findall(r"\b(mtu \d+|qdisc \S+|gso_max_size \d+|gro_max_size \d+)", d))


def netns_list():
    try:
        return [ln.split()[0] for ln in run_ip(["netns", "list"]).splitlines() if ln.strip()]
    except BenchError:
        return []


def netns_remove_stale():
    """Removes kxb-srv-PID / kxb-cli-PID namespaces of bench runs that are gone (killed
    without their cleanup); returns their names."""
    gone = []
    for ns in netns_list():
        for p in NETNS_PREFIX:
            if ns.startswith(p) and ns[len(p):].isdigit() and \
                    not os.path.exists("/proc/%s" % ns[len(p):]):
                try:
                    run_ip(["netns", "delete", ns])
                    gone.append(ns)
                except BenchError:
                    pass
    return gone


class Netns:
    """Two network namespaces, server (198.18.0.1/30) and client (198.18.0.2/30), joined by
    a veth pair with MTU 1500, lo up in both.  down() removes them (and the veth pair with
    them); it is safe to call at any point, also half-way through up()."""

    def __init__(self, pid=None):
        pid = pid or os.getpid()
        self.srv, self.cli = ("%s%d" % (p, pid) for p in NETNS_PREFIX)
        self.dev_srv, self.dev_cli = "kxb-s-%d" % pid, "kxb-c-%d" % pid   # <= 15 chars
        self.addr_srv, self.addr_cli = NETNS_ADDR
        self.mtu = NETNS_MTU
        self.setup = []           # the ip commands, as run
        self.made = False

    def prefix(self, ns):
        return [ip_binary() or "ip", "netns", "exec", ns]

    def up(self):
        if os.geteuid() != 0:
            raise BenchError("not running as root: network namespaces and a veth pair need "
                             "CAP_SYS_ADMIN and CAP_NET_ADMIN")
        if ip_binary() is None:
            raise BenchError("no 'ip' command (Debian package: iproute2)")
        self.made = True
        s = self.setup
        run_ip(["netns", "add", self.srv], s)
        run_ip(["netns", "add", self.cli], s)
        run_ip(["link", "add", self.dev_srv, "netns", self.srv, "mtu", str(self.mtu), "type",
                "veth", "peer", "name", self.dev_cli, "netns", self.cli, "mtu", str(self.mtu)], s)
        for ns, dev, addr in ((self.srv, self.dev_srv, self.addr_srv),
                              (self.cli, self.dev_cli, self.addr_cli)):
            run_ip(["-n", ns, "addr", "add", addr + "/30", "dev", dev], s)
            run_ip(["-n", ns, "link", "set", dev, "up"], s)
            run_ip(["-n", ns, "link", "set", "lo", "up"], s)
        end = time.monotonic() + 5       # the veth carrier comes up asynchronously
        while "LOWER_UP" not in run_ip(["-n", self.cli, "link", "show", self.dev_cli]):
            if time.monotonic() > end:
                raise BenchError("veth %s in %s did not come up" % (self.dev_cli, self.cli))
            time.sleep(0.05)

    def describe(self):
        """A line about the link as the kernel has it (MTU, GSO/GRO sizes, qdisc)."""
        try:
            d = run_ip(["-d", "-n", self.srv, "link", "show", self.dev_srv])
        except BenchError as e:
            return str(e)
        keys = re.findall(r"\b(mtu \d+|qdisc \S+|gso_max_size \d+|gro_max_size \d+|"
                          r"gso_max_segs \d+)", d)
        return ", ".join(keys)

    def down(self):
        if not self.made:
            return
        for ns in (self.srv, self.cli):     # a namespace takes its veth end with it
            try:
                run_ip(["netns", "delete", ns])
            except BenchError:
                pass
        self.made = False
