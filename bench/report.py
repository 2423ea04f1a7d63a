#!/usr/bin/env python3
"""Tables, chart and docs from one bench results dir (bench/run.sh writes those dirs).

    python3 bench/report.py [DIR]          (= bench/run.sh --report [DIR])

DIR defaults to the latest results dir under bench/results/ written by this bench (the one
with the newest meta.json "finished" time).  From DIR's raw data (meta.json, machine.txt,
hyperfine-NET-SERVER.json, runs.csv; dirs from before BENCH_NET have hyperfine-SERVER.json
and no net column: loopback) it (re)writes DIR/results.csv, DIR/table.md, DIR/chart.dat
and DIR/chart.svg (gnuplot with bench/chart.gp; skipped, with a note, without gnuplot), then
replaces the part of docs/benchmarks.md between the markers

    <!-- bench:begin ... -->   and   <!-- bench:end -->

and copies the chart to docs/benchmarks.svg; with BENCH_NO_DOCS=1 it leaves docs/ alone.

The figures, per network, server and client (runs = hyperfine's timed runs; the warm-up is
left out):

  MB/s median     file bytes / hyperfine's median wall time of the whole command / 10^6;
                  min and max come from the slowest and the fastest run
  client CPU-s/GiB  hyperfine's mean user + system time of the command (getrusage of its
                  children: the client plus the bench's bash wrapper, about 2 ms a run)
                  / (file bytes / 2^30)
  server CPU-s/GiB  mean over the runs of the server's utime + stime (/proc/PID/stat, all
                  threads; nginx: master + worker) between right before the client started
                  and right after it exited / (file bytes / 2^30); clock ticks (1/CLK_TCK s)

Goals (issue 9), per network, kxfer get <- kxfer serve against curl <- nginx:
  end to end MB/s at least GOAL_SPEEDUP times; server CPU-s/GiB (kxfer serve serving kxfer get
  / nginx serving curl) at most GOAL_SERVER_CPU times; client CPU-s/GiB (kxfer get / curl) at
  most GOAL_CLIENT_CPU times; the same with kernel TLS (kxfer serve --ktls on, nginx + KTLS)
  where those were measured.

Python 3 standard library only.
"""
import csv
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
DOCS = os.path.join(TOP, "docs", "benchmarks.md")
DOCS_SVG = os.path.join(TOP, "docs", "benchmarks.svg")
BEGIN = "<!-- bench:begin"
END = "<!-- bench:end -->"
GIB = 1 << 30

SERVER_LABEL = {
    "kxfer-serve": "kxfer serve",
    "nginx": "nginx",
    "kxfer-serve-ktls": "kxfer serve --ktls on",
    "nginx-ktls": "nginx + KTLS",
}
SERVER_WHAT = {
    "kxfer-serve": "`kxfer serve --threads 1 --ktls off` (userspace TLS)",
    "nginx": "nginx, one worker, `sendfile on` (userspace TLS: bench/nginx.conf.in)",
    "kxfer-serve-ktls": "`kxfer serve --threads 1 --ktls on` (kernel TLS: splice)",
    "nginx-ktls": "nginx, one worker, `sendfile on`, `ssl_conf_command Options KTLS` "
                  "(kernel TLS: bench/nginx-ktls.conf.in)",
}
CHART_LABEL = {"kxfer-serve": "kxfer serve", "nginx": "nginx",
               "kxfer-serve-ktls": "kxfer serve kTLS", "nginx-ktls": "nginx kTLS"}
CHART_NET = {"loopback": "lo", "netns": "netns"}
KTLS_SERVERS = {"kxfer-serve-ktls", "nginx-ktls"}
CLIENT_LABEL = {"kxfer-get": "kxfer get", "curl": "curl", "wget": "wget"}

NET_LABEL = {"loopback": "loopback", "netns": "netns"}
NET_WHAT = {
    "loopback": "server and clients in one network namespace, https://127.0.0.1 over lo "
                "(MTU 65536)",
    "netns": "server and clients in two network namespaces joined by a veth pair (MTU 1500), "
             "https://198.18.0.1",
}

# Issue 9's goals, kxfer get <- kxfer serve against curl <- nginx on the same network:
GOAL_SPEEDUP = 1.3      # end to end MB/s, at least this times
GOAL_SERVER_CPU = 0.75  # server CPU-s/GiB: kxfer serve serving kxfer get / nginx serving curl
GOAL_CLIENT_CPU = 0.73  # client CPU-s/GiB: kxfer get from kxfer serve / curl from nginx
DISTURBED_S = 0.10     # a row is disturbed when other processes used more CPU-s per run
DISTURBED_SHARE = 0.05  # ... than this, and more than this share of the run's wall time


class ReportError(Exception):
    pass


def latest_results():
    base = os.path.join(HERE, "results")
    best = None
    for name in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        p = os.path.join(base, name, "meta.json")
        try:
            with open(p) as f:
                fin = json.load(f).get("finished", "")
        except (OSError, ValueError):
            continue
        if fin and (best is None or fin >= best[0]):
            best = (fin, os.path.join(base, name))
    if best is None:
        raise ReportError("no results dir of this bench (with meta.json) under %s" % base)
    return best[1]


def shown_path(path, start=TOP):
    rel = os.path.relpath(os.path.abspath(path), start)
    return path if rel.startswith("..") else rel


def load(outdir):
    try:
        with open(os.path.join(outdir, "meta.json")) as f:
            meta = json.load(f)
    except OSError:
        raise ReportError("%s has no meta.json: not a results dir of this bench (bench/run.sh "
                          "since hyperfine)" % outdir)
    runs = {}
    try:
        with open(os.path.join(outdir, "runs.csv"), newline="") as f:
            for r in csv.DictReader(f):
                if r["run"] != "warm-up":   # no net column (before BENCH_NET): loopback
                    runs.setdefault((r.get("net") or "loopback", r["server"], r["client"]),
                                    []).append(r)
    except OSError as e:
        raise ReportError("%s: %s" % (outdir, e))
    size = meta["size_bytes"]
    gib = size / GIB
    rows = []
    for s in meta["servers"]:
        name, net = s["name"], s.get("net", "loopback")
        if s["status"] != "ok":
            for c in meta["clients"]:
                rows.append(dict(net=net, server=name, client=c, status=s["status"]))
            continue
        jp = os.path.join(outdir, s.get("hyperfine_json") or "hyperfine-%s.json" % name)
        try:
            with open(jp) as f:
                hf = {r["command"]: r for r in json.load(f)["results"]}
        except (OSError, ValueError, KeyError) as e:
            raise ReportError("%s: %s" % (jp, e))
        for c in meta["clients"]:
            r = hf.get(c)
            rr = runs.get((net, name, c), [])
            if r is None or not rr:
                raise ReportError("%s: no results for %s" % (jp, c))
            scpu = statistics.mean(float(x["server_cpu_s"]) for x in rr)
            other = statistics.median(float(x["other_cpu_s"]) for x in rr)
            notes = []
            # kTLS send set up by the server: the TX setups in the server's namespace during
            # the run; on loopback the client's sockets count there too: minus the client's
            # own (kxfer get says in --json; curl and wget never do)
            own = net == "loopback"
            srv_tx = [int(x["ktls_tx_setups"]) - (own and "tx=ktls" in x["client_path"])
                      for x in rr]
            paths = sorted({x["client_path"].split(",")[0] for x in rr
                            if x["client_path"] != "-"})
            if paths:
                notes.append("client " + "/".join(paths))
            if name.startswith("kxfer") and s.get("server_tx_paths"):
                notes.append("server " + "/".join("tx=%s" % p for p in s["server_tx_paths"]))
            elif name in KTLS_SERVERS or any(srv_tx):
                notes.append("server kTLS send on %d of %d connections" % (
                    sum(1 for t in srv_tx if t > 0), len(srv_tx)))
            rows.append(dict(
                net=net, server=name, client=c, status="ok", runs=len(r["times"]),
                mbps_median=size / r["median"] / 1e6, mbps_min=size / r["max"] / 1e6,
                mbps_max=size / r["min"] / 1e6, wall_median=r["median"],
                wall_mean=r["mean"], wall_stddev=r.get("stddev") or 0.0,
                server_cpu_s=scpu, server_cpu_gib=scpu / gib,
                client_user_s=r["user"], client_sys_s=r["system"],
                client_cpu_gib=(r["user"] + r["system"]) / gib, other_cpu_s=other,
                # other work used a noticeable share of the CPUs during the runs
                disturbed=other > DISTURBED_S and other > DISTURBED_SHARE * r["median"],
                note="; ".join(notes)))
    return meta, rows


def write_csv(outdir, rows):
    fields = ["net", "server", "client", "status", "runs", "mb_s_median", "mb_s_min", "mb_s_max",
              "server_cpu_s_per_gib", "client_cpu_s_per_gib", "wall_s_median", "wall_s_mean",
              "wall_s_stddev", "server_cpu_s_mean", "client_user_s_mean", "client_sys_s_mean",
              "other_cpu_s_median", "note"]
    with open(os.path.join(outdir, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for r in rows:
            if r["status"] != "ok":
                w.writerow([r["net"], r["server"], r["client"], r["status"]] +
                           [""] * (len(fields) - 4))
                continue
            w.writerow([r["net"], r["server"], r["client"], "ok", r["runs"],
                        "%.1f" % r["mbps_median"], "%.1f" % r["mbps_min"], "%.1f" % r["mbps_max"],
                        "%.3f" % r["server_cpu_gib"], "%.3f" % r["client_cpu_gib"],
                        "%.4f" % r["wall_median"], "%.4f" % r["wall_mean"],
                        "%.4f" % r["wall_stddev"], "%.3f" % r["server_cpu_s"],
                        "%.4f" % r["client_user_s"], "%.4f" % r["client_sys_s"],
                        "%.2f" % (round(r["other_cpu_s"], 2) + 0.0), r["note"]])


def net_order(rows):
    """The networks of rows, in the order measured."""
    out = []
    for r in rows:
        if r["net"] not in out:
            out.append(r["net"])
    return out


def grouped(rows):
    """rows grouped by network (in the order measured), each group in its own order."""
    return [r for n in net_order(rows) for r in rows if r["net"] == n]


def pair(r):
    return "%s: %s / %s" % (NET_LABEL.get(r["net"], r["net"]), SERVER_LABEL[r["server"]],
                            CLIENT_LABEL[r["client"]])


def table_lines(rows, ktls_reason):
    out = ["| net | server | client | MB/s (median) | MB/s min-max | server CPU-s/GiB | "
           "client CPU-s/GiB | other CPU-s | notes |",
           "|---|---|---|--:|--:|--:|--:|--:|---|"]
    done = set()
    for r in grouped(rows):
        net = NET_LABEL.get(r["net"], r["net"])
        if r["status"] != "ok":
            if (r["net"], r["server"]) in done:
                continue
            done.add((r["net"], r["server"]))
            why = r["status"]
            if why == "unavailable: " + ktls_reason:
                why = "not measured: this kernel has no TLS (see below)"
            out.append("| %s | %s | all | %s | | | | | |" % (net, SERVER_LABEL[r["server"]], why))
            continue
        out.append("| %s | %s | %s | %.0f | %.0f-%.0f | %.3f | %.3f | %s | %s |" % (
            net, SERVER_LABEL[r["server"]], CLIENT_LABEL[r["client"]], r["mbps_median"],
            r["mbps_min"], r["mbps_max"], r["server_cpu_gib"], r["client_cpu_gib"],
            ("**%.2f**" if r["disturbed"] else "%.2f") % (round(r["other_cpu_s"], 2) + 0.0),
            r["note"]))
    return out


def ratio(a, b):
    return "x%.2f" % (a / b) if b else "x-"


def comparisons(rows):
    """Goal checks and a few ratios, per network, as markdown bullets."""
    out = []

    def add(net, text, *rs):
        bad = [pair(r) for r in rs if r["disturbed"]]
        out.append("%s: %s%s" % (NET_LABEL.get(net, net), text,
                                 " *Disturbed (%s): not conclusive.*" % ", ".join(bad)
                                 if bad else ""))

    def goal(a, b, limit, at_least):
        """'Q.QQx (goal >= L: **met**)'; without a denominator (no CPU tick measured, a
        tiny file): not decided."""
        if not b:
            return "-x (goal %s %.2gx: not decided, zero denominator)" % (
                ">=" if at_least else "<=", limit)
        q = a / b
        ok = q >= limit if at_least else q <= limit
        return "%.2fx (goal %s %.2gx: %s)" % (q, ">=" if at_least else "<=", limit,
                                              "**met**" if ok else "**missed**")
    for net in net_order(rows):
        d = {(r["server"], r["client"]): r for r in rows
             if r["status"] == "ok" and r["net"] == net}
        for ks, base, what in (("kxfer-serve", "nginx", ""),
                               ("kxfer-serve-ktls", "nginx-ktls", " (kernel TLS)")):
            kk, kc, bc = d.get((ks, "kxfer-get")), d.get((ks, "curl")), d.get((base, "curl"))
            k, b = SERVER_LABEL[ks], SERVER_LABEL[base]
            if kk and bc:
                add(net, "Goal%s, end to end: kxfer get <- %s %.0f MB/s / curl <- %s %.0f MB/s "
                    "= %s." % (what, k, kk["mbps_median"], b, bc["mbps_median"],
                               goal(kk["mbps_median"], bc["mbps_median"], GOAL_SPEEDUP, True)),
                    kk, bc)
                add(net, "Goal%s, server CPU-s/GiB: %s serving kxfer get %.3f / %s serving curl "
                    "%.3f = %s." % (what, k, kk["server_cpu_gib"], b, bc["server_cpu_gib"],
                                    goal(kk["server_cpu_gib"], bc["server_cpu_gib"],
                                         GOAL_SERVER_CPU, False)), kk, bc)
                add(net, "Goal%s, client CPU-s/GiB: kxfer get from %s %.3f / curl from %s %.3f "
                    "= %s." % (what, k, kk["client_cpu_gib"], b, bc["client_cpu_gib"],
                               goal(kk["client_cpu_gib"], bc["client_cpu_gib"],
                                    GOAL_CLIENT_CPU, False)), kk, bc)
            elif kk or bc:
                add(net, "Goals%s: not computed, they need both kxfer get <- %s and curl <- %s."
                    % (what, k, b))
            if kk and kc:
                add(net, "%s CPU-s/GiB serving kxfer get vs serving curl: %.3f vs %.3f (%s)." % (
                    k, kk["server_cpu_gib"], kc["server_cpu_gib"],
                    ratio(kk["server_cpu_gib"], kc["server_cpu_gib"])), kk, kc)
        for c in ("curl", "wget"):
            a, b = d.get(("kxfer-serve", c)), d.get(("nginx", c))
            if a and b:
                add(net, "Same client (%s): kxfer serve %.2fx nginx's MB/s, server CPU-s/GiB "
                    "%.3f vs %.3f (%s)." % (
                        c, a["mbps_median"] / b["mbps_median"], a["server_cpu_gib"],
                        b["server_cpu_gib"], ratio(a["server_cpu_gib"], b["server_cpu_gib"])),
                    a, b)
        for sv in ("nginx", "kxfer-serve"):
            k = d.get((sv, "kxfer-get"))
            for c in ("curl", "wget"):
                o = d.get((sv, c))
                if k and o:
                    add(net, "Same server (%s): kxfer get %.2fx %s's MB/s, client CPU-s/GiB "
                        "%.3f vs %.3f (%s)." % (
                            SERVER_LABEL[sv], k["mbps_median"] / o["mbps_median"], c,
                            k["client_cpu_gib"], o["client_cpu_gib"],
                            ratio(k["client_cpu_gib"], o["client_cpu_gib"])), k, o)
    return ["- " + x for x in out + network_cost(rows)]


def network_cost(rows):
    """What each network costs next to loopback, for the pairs the goals compare."""
    nets = net_order(rows)
    d = {(r["net"], r["server"], r["client"]): r for r in rows if r["status"] == "ok"}
    out = []
    for net in nets:
        if net == "loopback" or "loopback" not in nets:
            continue
        parts, rs = [], []
        for sv, c in (("kxfer-serve", "kxfer-get"), ("nginx", "curl"), ("kxfer-serve", "curl")):
            a, b = d.get((net, sv, c)), d.get(("loopback", sv, c))
            if a and b:
                parts.append("%s <- %s %.2fx the MB/s, server CPU-s/GiB %.3f vs %.3f (%s), "
                             "client %.3f vs %.3f (%s)" % (
                                 CLIENT_LABEL[c], SERVER_LABEL[sv],
                                 a["mbps_median"] / b["mbps_median"], a["server_cpu_gib"],
                                 b["server_cpu_gib"],
                                 ratio(a["server_cpu_gib"], b["server_cpu_gib"]),
                                 a["client_cpu_gib"], b["client_cpu_gib"],
                                 ratio(a["client_cpu_gib"], b["client_cpu_gib"])))
                rs += [a, b]
        if parts:
            bad = [pair(r) for r in rs if r["disturbed"]]
            out.append("%s against loopback: %s.%s" % (
                NET_LABEL.get(net, net), "; ".join(parts),
                " *Disturbed (%s): not conclusive.*" % ", ".join(bad) if bad else ""))
    return out


def disturbance(rows):
    """A bullet naming the rows during which other work used the CPUs, or []."""
    bad = [r for r in rows if r["status"] == "ok" and r["disturbed"]]
    if not bad:
        return []
    return ["- **Disturbed by other work**: %s CPU-s per run (median) used by other processes "
            "during %s. Competing for the CPUs slows those transfers down and raises their CPU "
            "figures; they do not compare with the other rows. Rerun on a quiet machine." % (
                ", ".join("%.2f" % r["other_cpu_s"] for r in bad),
                ", ".join(pair(r) for r in bad))]


def machine_lines(m):
    g = m.get

    def ver(key, rx):
        v = re.search(rx, g(key, ""))
        return v.group(1) if v else "?"
    return [
        "- CPU: %s, %s cores (%s), %s" % (g("cpu", "?"), g("cores", "?").split(",")[0],
                                          g("cores", "?").split(", ")[-1], g("cpu flags", "?")),
        "- kernel: %s; kTLS %s" % (g("kernel", "?"), g("kTLS", "?")),
        "- OpenSSL %s; nginx %s; curl %s; wget %s; hyperfine %s; %s" % (
            ver("openssl", r"OpenSSL (\S+)"), ver("nginx", r"nginx/([0-9.]+)"),
            ver("curl", r"curl (\S+)"),
            ver("wget", r"Wget (\S+)") + (" (GnuTLS)" if "gnutls" in g("wget", "") else ""),
            ver("hyperfine", r"hyperfine (\S+)"), g("kxfer", "?").split(" (")[0]),
        "- load: %s; loadavg %s at the start, %s at the end" % (
            g("background load", "?"), g("loadavg at start", "?"), g("loadavg at end", "?")),
    ]


def commands_block(meta):
    """The exact commands, with the temp dir shown as $TMP and the repository as ./."""
    def short(argv):
        out = []
        for a in argv:
            if meta.get("tmp"):
                a = a.replace(meta["tmp"], "$TMP")
            if meta.get("top"):
                a = a.replace(meta["top"] + "/", "")
            q = shlex.quote(a)
            if q != a and "'" in a and not any(c in a for c in '"\\`'):
                q = '"%s"' % a          # readable: "... '%{http_code} %{size_download}' ..."
            elif "$TMP" in a and not any(c in a for c in "'\"\\` "):
                q = a                   # let $TMP stand for the temp dir, unquoted
            out.append(q)
        return " ".join(out)
    lines = [meta["command"]]
    shown = set()
    for s in meta["servers"]:
        net = s.get("net")
        info = meta.get("net_info", {}).get(net, {})
        if info.get("setup") and net not in shown:
            shown.add(net)
            lines.append("")
            lines.append("# %s: the namespaces and the veth pair (at the end: ip netns delete "
                         "%s; ip netns delete %s)" % (net, info.get("server_ns"),
                                                      info.get("client_ns")))
            lines.extend(info["setup"])
        lines.append("")
        what = "%s %s" % (net, s["name"]) if net else s["name"]
        if s["status"] != "ok":
            lines.append("# %s: %s" % (what, s["status"]))
            continue
        lines.append("# %s: pids %s, %s (openssl s_client)%s" % (
            what, " ".join(str(p) for p in s.get("pids", [])), s.get("handshake", "?"),
            ", config " + s["config"] if s.get("config") else ""))
        lines.append(short(s["command"]) + " &")
        hf = s["hyperfine"]
        k = hf.index("-n") if "-n" in hf else len(hf)     # (netns: after ip netns exec CLI)
        parts = [short(hf[:k])]
        while k < len(hf):
            parts.append(short(hf[k:k + 3]))
            k += 3
        lines.append(" \\\n    ".join(parts))
    return lines


def wrap(lines, width=96):
    """Wraps paragraphs and bullets of markdown lines; tables, code and images stay."""
    out, code = [], False
    for ln in lines:
        if ln.startswith("```"):
            code = not code
        if code or ln.startswith(("|", "![", "```")) or len(ln) <= width:
            out.append(ln)
        elif ln.startswith("- "):
            out.extend(textwrap.wrap(ln, width, subsequent_indent="  ", break_long_words=False,
                                     break_on_hyphens=False))
        else:
            out.extend(textwrap.wrap(ln, width, break_long_words=False, break_on_hyphens=False))
    return out


def section(meta, rows, outdir, chart_ref, chart_note, servers_line=True):
    m = meta.get("machine", {})
    out = []
    src = shown_path(outdir)
    if not os.path.isabs(src):   # inside the repository: a link (relative to docs/)
        src = "[%s](%s/)" % (src, os.path.relpath(outdir, os.path.join(TOP, "docs")))
    out.append("Generated by `bench/report.py` from %s, %s, measured with `%s`." % (
        src, meta.get("finished", "?")[:10], meta["command"]))
    out.append("")
    nets = meta.get("nets") or ["loopback"]   # dirs from before BENCH_NET: loopback only
    out.append("%d MiB file from the page cache, TLSv1.3 %s; hyperfine `-N --warmup %d --runs "
               "%d`, one hyperfine per server and network with all clients. MB/s = 10^6 "
               "bytes/s over the whole client command (median; min-max over the runs); "
               "CPU-s/GiB = user + system seconds per 2^30 bytes (means); other CPU-s = CPU "
               "time used during a run by anything but the server and the client (median per "
               "run; other work on the machine, and kernel work not charged to either)."
               % (meta["size_mb"], meta["suite"], meta["warmup"], meta["runs"]))
    out.append("")
    for n in nets:
        info = meta.get("net_info", {}).get(n, {})
        out.append("- net %s: %s" % (NET_LABEL.get(n, n), info.get("text") or NET_WHAT[n]))
    if meta.get("netns_note"):
        out.append("- net netns: not measured: %s" % meta["netns_note"])
    out.extend(machine_lines(m))
    out.append("")
    out.extend(table_lines(rows, meta.get("ktls_reason", "")))
    out.append("")
    for s in meta["servers"]:
        if s["status"] != "ok" and s["status"] != "unavailable: " + meta.get("ktls_reason"):
            out.append("- %s, %s: %s" % (NET_LABEL.get(s.get("net", "loopback")),
                                         SERVER_LABEL[s["name"]], s["status"]))
    if not meta.get("ktls_available"):
        out.append("- No kernel TLS rows: %s." % meta.get("ktls_reason", "?"))
    out.extend(disturbance(rows))
    out.extend(comparisons(rows))
    out.append("")
    if chart_ref:
        out.append("![throughput and CPU seconds per GiB, per server and client](%s)" % chart_ref)
    else:
        out.append("(no chart: %s)" % chart_note)
    out.append("")
    if servers_line:
        names = []
        for s in meta["servers"]:
            if s["name"] not in names:
                names.append(s["name"])
        out.append("Servers: " + "; ".join("%s = %s" % (SERVER_LABEL[n], SERVER_WHAT[n])
                                            for n in names) + ".")
        out.append("")
    out.append("The commands, exactly (`$TMP` is the bench's temp dir; each hyperfine ran while "
               "only the server above it was running):")
    out.append("")
    out.append("```sh")
    out.extend(commands_block(meta))
    out.append("```")
    return wrap(out)


def write_chart(outdir, rows, meta):
    """chart.dat and, with gnuplot, chart.svg; returns (svg path or None, why not)."""
    ok = grouped([r for r in rows if r["status"] == "ok"])
    dat = os.path.join(outdir, "chart.dat")
    order = list(SERVER_LABEL)
    nets = net_order(ok)

    def client_label(r):   # with more than one network, each bar says which (short: the
        lb = CLIENT_LABEL[r["client"]]      # tic labels of 8-12 bars must not overlap)
        return lb if len(nets) < 2 else "%s, %s" % (lb, CHART_NET.get(r["net"], r["net"]))
    with open(dat, "w") as f:
        f.write("index\tserver\tclient\tmbps_median\tmbps_min\tmbps_max\t"
                "server_cpu_s_per_gib\tclient_cpu_s_per_gib\tcolor\tdisturbed\n")
        for i, r in enumerate(ok):
            f.write("%d\t%s\t%s\t%.1f\t%.1f\t%.1f\t%.4f\t%.4f\t%d\t%d\n" % (
                i, CHART_LABEL[r["server"]], client_label(r), r["mbps_median"],
                r["mbps_min"], r["mbps_max"], r["server_cpu_gib"], r["client_cpu_gib"],
                order.index(r["server"]) + 1, r["disturbed"]))
    svg = os.path.join(outdir, "chart.svg")
    gp = shutil.which("gnuplot")
    if not gp:
        if os.path.exists(svg):
            os.unlink(svg)
        return None, "gnuplot is not installed (Debian package gnuplot-nox)"
    if not ok:
        return None, "no measured rows"
    m = meta.get("machine", {})
    where = {"loopback": "lo", "netns": "netns (veth MTU 1500)"}
    ttl = "kxfer bench %s: %d MiB, TLS 1.3 %s, %s; %s, %s, %s" % (
        os.path.basename(os.path.normpath(outdir)), meta["size_mb"], meta["suite"],
        " + ".join(where.get(n, n) for n in nets) if nets != ["loopback"] else "127.0.0.1",
        m.get("cpu", "?"), m.get("cores", "?").split(",")[0] + " cores",
        m.get("kernel", "?"))
    note = ("* = disturbed: other processes used the CPUs during those runs"
            if any(r["disturbed"] for r in ok) else "")
    ttl = ttl.replace("'", " ")
    r = subprocess.run([gp, "-e", "datafile='%s'; outfile='%s'; ttl='%s'; note='%s'" % (
                        dat, svg, ttl, note),
                        os.path.join(HERE, "chart.gp")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    if r.returncode != 0 or not os.path.exists(svg):
        raise ReportError("gnuplot failed (%d):\n%s" % (r.returncode,
                                                        r.stdout.decode(errors="replace")))
    return svg, ""


def update_docs(lines):
    try:
        with open(DOCS) as f:
            text = f.read()
    except OSError as e:
        raise ReportError("%s: %s" % (DOCS, e))
    b, e = text.find(BEGIN), text.find(END)
    if b < 0 or e < b:
        raise ReportError("%s has no '%s ... -->' / '%s' markers" % (DOCS, BEGIN, END))
    b_end = text.index("-->", b) + 3
    new = text[:b_end] + "\n" + "\n".join(lines) + "\n" + text[e:]
    if new != text:
        with open(DOCS + ".tmp", "w") as f:
            f.write(new)
        os.replace(DOCS + ".tmp", DOCS)


def generate(outdir, docs=True):
    """Writes DIR's results.csv, table.md, chart; updates the docs; returns table.md's text."""
    meta, rows = load(outdir)
    write_csv(outdir, rows)
    svg, why = write_chart(outdir, rows, meta)
    table = section(meta, rows, outdir, "chart.svg" if svg else None, why)
    # table.md lives in the results dir: its links are relative to it
    table = [ln.replace("](%s/)" % os.path.relpath(outdir, os.path.join(TOP, "docs")),
                        "](./)") for ln in table]
    text = "# kxfer bench %s\n\n%s\n" % (os.path.basename(os.path.normpath(outdir)),
                                         "\n".join(table))
    with open(os.path.join(outdir, "table.md"), "w") as f:
        f.write(text)
    if docs:
        if svg:
            shutil.copyfile(svg, DOCS_SVG)
        lines = section(meta, rows, outdir, "benchmarks.svg" if svg else None, why,
                        servers_line=False)   # the page describes the servers itself
        update_docs(lines)
        text += "\nregenerated: %s%s\n" % (shown_path(DOCS),
                                           " and " + shown_path(DOCS_SVG) if svg else "")
    text += "results: %s/{results.csv,table.md,machine.txt,hyperfine-*.json,hyperfine-*.md%s}\n" % (
        shown_path(outdir), ",chart.svg" if svg else "")
    return text


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-")):
        print("usage: bench/run.sh --report [RESULTS-DIR]", file=sys.stderr)
        return 2
    try:
        outdir = argv[1] if len(argv) == 2 else latest_results()
        docs = os.environ.get("BENCH_NO_DOCS", "") in ("", "0")
        print(generate(outdir, docs=docs))
    except ReportError as e:
        print("bench: report: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
