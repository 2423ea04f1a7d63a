#!/usr/bin/env python3
"""Helpers for bench/tree.sh (see there).  Python 3 standard library only.

    tree-util.py make DIR FILES MIB     build the test tree in DIR (must not exist); prints
                                        'files dirs bytes largest-relpath largest-bytes'
    tree-util.py manifest DIR OUT       write DIR's manifest to OUT: one sorted line per
                                        directory ('d PATH') and regular file ('f SIZE SHA256
                                        PATH'); anything else is listed as '? PATH'
    tree-util.py verify MANIFEST DIR    exit 0 when DIR's manifest equals MANIFEST, else print
                                        what differs (missing, extra, different) and exit 1
    tree-util.py inodes DIR OUT         'PATH INODE MTIME_NS' of every file, sorted (a file
                                        rewritten in place of the old gets a new inode or
                                        mtime: the incremental case uses it)
    tree-util.py report OUT             write OUT/tree.md from OUT/meta.json and the
                                        hyperfine-*.json files

The tree, like a source/data tree a user would copy: with F files and M MiB (defaults 2000 and
446) about 99 % of the files are small (1-64 KiB), about 1 % medium (1-8 MiB x M/446) and
0.15 % (at least one) large (64-128 MiB x M/446); the large ones are resized so that the total
is exactly M MiB.  About F/15 directories, nested up to 5 deep, some names with spaces, no
dotfiles (nginx's autoindex hides them), no empty directories, no links.  Layout, names and sizes come from a fixed seed (the
same every run); the content is random (os.urandom, i.e. getrandom(2), the kernel's
/dev/urandom source), and mtimes are spread over the last two years with nanoseconds.
"""
import hashlib
import json
import os
import random
import sys
import time

KIB, MIB = 1 << 10, 1 << 20
DEFAULT_FILES, DEFAULT_MIB = 2000, 446

WORDS = ["src", "lib", "docs", "assets", "data", "build", "vendor", "tests", "scripts",
         "media", "backup", "config", "images", "cache", "include", "net", "util", "core",
         "api", "fixtures", "logs", "www", "static", "i18n", "old", "misc", "tools", "models"]
EXTS = [".c", ".h", ".py", ".txt", ".md", ".json", ".html", ".css", ".js", ".svg", ".png",
        ".o", ".log", ".csv", ".xml", ".yaml", ".sh", ".go", ".rs", ".conf"]
BIG_EXTS = [".tar", ".iso", ".img", ".mp4", ".bin", ".zip", ".sqlite", ".pack"]


def make(top, nfiles, mib):
    rnd = random.Random(20261128)
    total = mib * MIB
    scale = mib / DEFAULT_MIB
    n_large = max(1, round(nfiles * 3 / DEFAULT_FILES))
    n_medium = max(1, round(nfiles * 21 / DEFAULT_FILES)) if nfiles > 2 else 0
    n_small = nfiles - n_large - n_medium
    if n_small < 0 or nfiles < 1:
        raise SystemExit("tree-util: FILES must be >= 1 (got %d)" % nfiles)

    # directories: a random tree, shallow ones more likely to get children
    ndirs = max(1, nfiles // 15)
    dirs = [""]
    used = {"": set()}
    while len(dirs) < ndirs + 1:
        parent = rnd.choice([d for d in dirs if d.count("/") < 4 or d == ""] or [""])
        if parent and rnd.random() < 0.3 * parent.count("/"):
            parent = ""
        base = rnd.choice(WORDS)
        name = base if base not in used[parent] else "%s%d" % (base, rnd.randrange(2, 99))
        if rnd.random() < 0.04:
            name = "%s copy" % name                    # a space, as users' trees have
        if name in used[parent]:
            continue
        used[parent].add(name)
        path = name if not parent else parent + "/" + name
        dirs.append(path)
        used[path] = set()

    def fname(ext_list, i):
        # no dotfiles: nginx's autoindex leaves them out of its listings (rclone and any
        # listing-driven client would never see them)
        if rnd.random() < 0.03:
            return "%s %d%s" % (rnd.choice(["draft", "notes", "report", "old file"]), i,
                                rnd.choice(ext_list))
        return "%s-%04d%s" % (rnd.choice(WORDS), i, rnd.choice(ext_list))

    sizes = []
    for i in range(n_small):
        sizes.append(("s", rnd.randint(KIB, 64 * KIB)))
    for i in range(n_medium):
        sizes.append(("m", max(1, int(rnd.randint(MIB, 8 * MIB) * scale))))
    large = [max(1, int(rnd.randint(64 * MIB, 128 * MIB) * scale)) for _ in range(n_large)]
    rest = total - sum(s for _, s in sizes)
    if rest < n_large:
        raise SystemExit("tree-util: %d files do not fit in %d MiB with this layout" %
                         (nfiles, mib))
    # resize the large files so that the total is exactly MIB MiB
    f = rest / sum(large)
    large = [max(1, int(x * f)) for x in large]
    large[0] += rest - sum(large)
    sizes += [("l", x) for x in large]
    rnd.shuffle(sizes)

    os.mkdir(top)
    for d in dirs[1:]:
        os.mkdir(os.path.join(top, d))
    now = time.time()
    biggest = ("", -1)
    for i, (kind, size) in enumerate(sizes):
        d = dirs[i] if i < len(dirs) else rnd.choice(dirs)   # no directory stays empty
        while True:
            n = fname(BIG_EXTS if kind == "l" else EXTS, i)
            if n not in used[d]:
                break
        used[d].add(n)
        rel = n if not d else d + "/" + n
        p = os.path.join(top, rel)
        with open(p, "wb") as fh:
            left = size
            while left:
                chunk = os.urandom(min(left, 4 * MIB))
                fh.write(chunk)
                left -= len(chunk)
        t = int((now - rnd.uniform(86400, 2 * 365 * 86400)) * 1e9)
        os.utime(p, ns=(t, t))
        if size > biggest[1]:
            biggest = (rel, size)
    for d in sorted(dirs[1:], key=lambda x: -x.count("/")):
        t = int((now - rnd.uniform(86400, 365 * 86400)) * 1e9)
        os.utime(os.path.join(top, d), ns=(t, t))
    os.sync()    # clean pages: no writeback of the source while measuring
    print(len(sizes), len(dirs) - 1, total, biggest[0], biggest[1])


def walk(top):
    out = []
    for root, dnames, fnames in os.walk(top):
        rel = os.path.relpath(root, top)
        rel = "" if rel == "." else rel + "/"
        for d in dnames:
            p = os.path.join(root, d)
            if os.path.islink(p):
                out.append(("?", rel + d))
            else:
                out.append(("d", rel + d))
        for n in fnames:
            out.append(("f", rel + n))
    out.sort(key=lambda x: x[1])
    return out


def manifest_lines(top):
    lines = []
    for kind, rel in walk(top):
        p = os.path.join(top, rel)
        if kind == "d":
            lines.append("d %s" % rel)
            continue
        try:
            st = os.lstat(p)
        except OSError:
            lines.append("? %s" % rel)
            continue
        if not (st.st_mode & 0o170000 == 0o100000):
            lines.append("? %s" % rel)
            continue
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            while True:
                b = fh.read(4 * MIB)
                if not b:
                    break
                h.update(b)
        lines.append("f %d %s %s" % (st.st_size, h.hexdigest(), rel))
    return lines


def path_of(line):
    return line.split(" ", 3)[3] if line.startswith("f ") else line.split(" ", 1)[1]


def verify(manifest, top):
    if not os.path.isdir(top):
        print("%s: not a directory (nothing was written)" % top)
        return 1
    with open(manifest) as fh:
        want = fh.read().splitlines()
    got = manifest_lines(top)
    if got == want:
        return 0
    w = {path_of(x): x for x in want}
    g = {path_of(x): x for x in got}
    missing = sorted(set(w) - set(g))
    extra = sorted(set(g) - set(w))
    diff = sorted(p for p in set(w) & set(g) if w[p] != g[p])
    print("%s differs from the source: %d missing, %d extra, %d different (of %d entries)" % (
        top, len(missing), len(extra), len(diff), len(want)))
    for what, lst, src in (("missing", missing, w), ("extra", extra, g), ("different", diff, g)):
        for p in lst[:5]:
            print("  %s: %s" % (what, src[p] if what != "different" else
                                "%s  (want: %s)" % (g[p], w[p])))
        if len(lst) > 5:
            print("  ... %d more %s" % (len(lst) - 5, what))
    return 1


def inodes(top, out):
    with open(out, "w") as fh:
        for kind, rel in walk(top):
            st = os.lstat(os.path.join(top, rel))
            if kind == "f":
                fh.write("%s %d %d\n" % (rel, st.st_ino, st.st_mtime_ns))


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    cmd = argv[1]
    if cmd == "make" and len(argv) == 5:
        make(argv[2], int(argv[3]), int(argv[4]))
        return 0
    if cmd == "manifest" and len(argv) == 4:
        with open(argv[3], "w") as fh:
            for ln in manifest_lines(argv[2]):
                fh.write(ln + "\n")
        return 0
    if cmd == "verify" and len(argv) == 4:
        return verify(argv[2], argv[3])
    if cmd == "inodes" and len(argv) == 4:
        inodes(argv[2], argv[3])
        return 0
    if cmd == "report" and len(argv) == 3:
        return report(argv[2])
    print(__doc__)
    return 2


SCENARIOS = [
    ("download", "Download of the tree"),
    ("upload", "Upload of the tree"),
    ("bigfile", "One big file (the tree's largest)"),
    ("incremental", "Incremental: nothing changed, the destination already complete"),
]


def read_kv(path):
    d = []
    try:
        with open(path) as fh:
            for ln in fh:
                if ":" in ln:
                    k, v = ln.rstrip("\n").split(":", 1)
                    d.append((k.strip(), v.strip()))
    except OSError:
        pass
    return d


def stats(path):
    with open(path) as fh:
        r = json.load(fh)["results"][0]
    t = sorted(r["times"])
    n = len(t)
    med = t[n // 2] if n % 2 else (t[n // 2 - 1] + t[n // 2]) / 2
    return dict(median=med, min=t[0], max=t[-1], n=n)


def fmt_s(x):
    return "%.3f" % x if x < 10 else "%.2f" % x


def report(out):
    rows = []
    with open(os.path.join(out, "rows.tsv")) as fh:
        head = fh.readline().rstrip("\n").split("\t")
        for ln in fh:
            v = ln.rstrip("\n").split("\t")
            v += [""] * (len(head) - len(v))
            rows.append(dict(zip(head, v)))
    for r in rows:
        r["stats"] = None
        if r["status"] == "ok" or (r["status"].startswith("WRONG") and r["json"]):
            try:
                r["stats"] = stats(os.path.join(out, r["json"]))
            except (OSError, ValueError, KeyError, IndexError):
                r["status"] = "no numbers: %s unreadable" % r["json"]
    machine = read_kv(os.path.join(out, "machine.txt"))
    tree = read_kv(os.path.join(out, "tree.txt"))
    mk = dict(machine)
    tk = dict(tree)
    L = []
    L.append("# kxfer tree benchmark, %s" % mk.get("date", "?"))
    L.append("")
    L.append("`%s` on %s (%s CPUs, %s), %s. Generated by bench/tree.sh; the raw data "
             "(hyperfine's JSON, rows.tsv, machine.txt, tree.txt) is beside this file." % (
                 mk.get("command", "bench/tree.sh"), mk.get("host", "?"), mk.get("nproc", "?"),
                 mk.get("cpu", "?"), mk.get("kernel", "?")))
    L.append("")
    L.append("The tree: %s files in %s directories, %s bytes (%.1f MiB); largest %s. "
             "Random content, made once per run on %s; the page cache warm (source read "
             "before the runs)." % (
                 tk.get("files", "?"), tk.get("directories", "?"), tk.get("bytes", "?"),
                 int(tk.get("bytes", "0") or 0) / MIB, tk.get("largest", "?"),
                 mk.get("disk", "disk")))
    for k in ("small (<= 64 KiB)", "medium (64 KiB - 16 MiB)", "large (> 16 MiB)",
              "deepest directory"):
        if k in tk:
            L.append("- %s: %s" % (k, tk[k]))
    L.append("")
    L.append("All on 127.0.0.1, every byte encrypted with AES-128-GCM (TLS 1.3 "
             "TLS_AES_128_GCM_SHA256; ssh aes128-gcm@openssh.com); %s, one hyperfine per "
             "tool. Before every timed run the prepare command (untimed, shown with each "
             "command) moves the last run's destination away, so that every run is a full "
             "transfer into a destination that does not exist (uploads: an empty one), and runs "
             "`sync`, so that no dirty pages of the run before are written back during the next. "
             "The incremental case has no prepare. After the runs the destination of every run "
             "is compared with the source's manifest (names, sizes, SHA-256 of every file)." %
             mk.get("runs", "hyperfine"))
    L.append("")
    L.append("The old destinations are moved into `$TMP/grave`, not deleted, until the end: "
             "right after 2,000 files are deleted, ext4 makes every file create skip the "
             "recently deleted inodes (`recently_deleted()`, 30 s after they reach the disk), "
             "which made the next runs up to twice as slow, more with every run, so that the "
             "order of the tools would have decided the numbers.")
    L.append("")
    L.append("MB/s = bytes / median time (10^6 bytes/s). *vs fastest alternative* = this "
             "tool's median / the median of the fastest tool that is not kxfer in the same "
             "scenario: below 1.00 is faster than it, above 1.00 slower.")
    L.append("")
    for sc, title in SCENARIOS:
        rs = [r for r in rows if r["scenario"] == sc]
        if not rs:
            continue
        nbytes = int(rs[0]["bytes"] or 0)
        if sc == "bigfile":
            title += ", %s bytes (%.1f MiB)" % (nbytes, nbytes / MIB)
        elif sc in ("download", "upload"):
            title += ", %s files, %.1f MiB" % (tk.get("files", "?"), nbytes / MIB)
        L.append("## %s" % title)
        L.append("")
        alts = [r["stats"]["median"] for r in rs
                if r["status"] == "ok" and not r["tool"].startswith("kxfer")]
        best = min(alts) if alts else None
        L.append("| tool | server | median s | min-max s | MB/s | vs fastest alternative "
                 "| HTTP requests per run |")
        L.append("|---|---|--:|--:|--:|--:|---|")
        for r in rs:
            st = r["stats"]
            if r["status"] != "ok" or st is None:
                why = r["status"]
                L.append("| %s | %s | %s | | | | |" % (r["label"], r["server"],
                                                       why.replace("|", "\\|")))
                continue
            mbs = "–" if sc == "incremental" else "%.0f" % (int(r["bytes"]) / st["median"] / 1e6)
            ratio = "%.2f" % (st["median"] / best) if best else "–"
            reqs = r.get("requests") or ("– (one ssh session)" if r["server"] == "sshd" else "–")
            L.append("| %s | %s | %s | %s-%s | %s | %s | %s |" % (
                r["label"], r["server"], fmt_s(st["median"]), fmt_s(st["min"]),
                fmt_s(st["max"]), mbs, ratio, reqs))
        L.append("")
        L.append("```sh")
        for r in rs:
            if r["command"]:
                L.append("# %s" % r["label"])
                if r["prepare"]:
                    L.append("#   prepare: %s" % r["prepare"].replace("\n", " "))
                L.append(r["command"])
        L.append("```")
        L.append("")
        tools = {r["tool"]: r for r in rs if r["status"] == "ok"}
        notes = []
        if sc == "incremental":
            notes.append("No prepare: the destination was filled by one untimed run of the same "
                         "command (and checked) before the warm-up; after the runs every file "
                         "must still have its inode and mtime: nothing was transferred again. "
                         "rsync compares every file's size and mtime through one ssh session; "
                         "kxfer get -r reads each directory's JSON listing and compares the "
                         "same.")
        if sc == "download" and any(t.startswith("kxfer") for t in tools):
            notes.append("kxfer get -r fetches files larger than its --split-size (64 MiB by "
                         "default) as byte ranges on several connections (the 206 answers).")
        if sc == "upload" and any(t.startswith("kxfer") for t in tools):
            notes.append("kxfer serve fsyncs every uploaded file and its directory before it "
                         "answers (the upload is on the disk when kxfer put returns); nginx's "
                         "PUT and rsync (without --fsync) leave the data in the page cache.")
        if sc == "upload" and "rclone" in tools:
            notes.append("rclone %s's webdav backend spaces its requests at least 10 ms apart "
                         "(its pacer; --webdav-pacer-min-sleep came with rclone 1.63), whatever "
                         "--transfers says: with three requests per file (MKCOL of the parent, "
                         "PUT, PROPFIND) that is most of its time here." %
                         mk.get("rclone", "").replace("rclone ", "") or "")
        for n in notes:
            L.append(n)
            L.append("")
    L.append("## Machine and versions")
    L.append("")
    for k, v in machine:
        L.append("- %s: %s" % (k, v))
    L.append("")
    L.append("## Raw data")
    L.append("")
    for r in rows:
        if r["json"]:
            L.append("- [%s](%s): %s, %s" % (r["json"], r["json"], r["scenario"], r["label"]))
    L.append("")
    with open(os.path.join(out, "tree.md"), "w") as fh:
        fh.write("\n".join(L))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
