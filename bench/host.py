"""Host helpers for bench/bench.py: environment parsing, processes, ports, the machine's
load, kernel TLS status and counters, CPU model.  Python 3 standard library only."""
import os
import platform
import re
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


def read_tls_stat():
    try:
        with open("/proc/net/tls_stat") as f:
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
