#!/usr/bin/env bash
# A kTLS-capable test guest for hosts whose kernel has no CONFIG_TLS.
#
#   scripts/ktls-guest.sh setup                      fetch + build the guest (idempotent, root)
#   scripts/ktls-guest.sh run [--timeout S] -- CMD [ARGS...]
#                                                    run CMD inside the guest, exit with its status
#   scripts/ktls-guest.sh status                     is it set up, which backend and kernel
#
# The guest is Debian's user-mode Linux 6.1 (package user-mode-linux: CONFIG_TLS=m,
# io_uring, hostfs), unpacked with dpkg -x into a cache dir outside the repository, booted
# from a small busybox initramfs whose /init (scripts/guest-init.sh) loads tls.ko and the
# AES-GCM / ChaCha20-Poly1305 modules, mounts the host's filesystem with hostfs, chroots
# into it and runs CMD in the host's current directory with the host's environment.  So the
# host's own binaries (build/kxfer, python3, openssl) run unchanged on a kernel with kTLS.
# Everything the guest writes under the host's paths is a real host write.
#
# Second choice: QEMU (qemu-system-x86_64, TCG, 2 CPUs) booting Debian 12's linux-image-6.1
# amd64 kernel (apt-get download + dpkg -x + depmod) with the same initramfs /init; the host
# filesystem comes over virtio-9p instead of hostfs.  Slower, but needs no UML support.
#
# Exit status of run: CMD's status; 77 (with one line on stdout saying why) when the guest
# is not set up or did not boot; 124 on --timeout; 143 when this script got SIGTERM, SIGINT
# or SIGHUP (it stops the guest first); 125 when the guest booted but died without reporting
# a status (kernel panic, crash).  setup exits 77 (one line why) when it cannot work here.
#
# Environment:
#   KXFER_GUEST         uml, qemu or auto (default): auto uses UML when it sets up and boots
#                       (checked once by setup), else QEMU; the choice is kept in the cache dir
#   KXFER_GUEST_DIR     cache dir (default /var/cache/kxfer-guest), reused across runs/clones
#   KXFER_GUEST_MEM     guest memory (default 1024M)
#   KXFER_GUEST_TMPDIR  where UML keeps its memory file; must allow PROT_EXEC mappings
#                       (default /dev/shm when it has room for the memory, else /tmp)
#   KXFER_GUEST_TIMEOUT default for --timeout in seconds (default 600; 0 = none)
#   KXFER_GUEST_TIMEOUT_SCALE, KXFER_GUEST_BOOT_S   QEMU only: the timeout applied is
#                       S * scale + boot (defaults 3 and 30), as TCG is slow
#   KXFER_GUEST_CPUS    QEMU only: guest CPUs (default 2)
# All exported variables (PATH, HOME, KXFER*, ...) reach CMD; KXFER_IN_GUEST=1 is added.
set -eu

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
D=${KXFER_GUEST_DIR:-/var/cache/kxfer-guest}
PKGS=(user-mode-linux busybox-static)
UML=$D/uml/usr/bin/linux.uml
INITRD=$D/initrd.cpio
SHIM=$D/xstate-shim.so
# Modules the guest needs; their dependencies come from modules.dep.  AES itself is built in.
ROOT_MODULES=(tls gcm ctr ghash-generic chacha20poly1305 chacha_generic poly1305_generic ipv6)
# QEMU: Debian's amd64 kernel, unpacked into $QK; modules for virtio-9p and the accelerated
# crypto too (AES itself and IPv6 are built in).
QK=$D/qemu/kernel
QINITRD=$D/qemu/initrd.cpio
QSTAMP=$D/qemu/stamp
QEMU_ROOT_MODULES=(virtio_pci 9pnet_virtio 9p gf128mul ghash-generic cryptd crypto_simd aesni-intel
                   ghash-clmulni-intel ctr gcm chacha_generic chacha-x86_64 poly1305_generic
                   poly1305-x86_64 chacha20poly1305 tls)
QEMU_BIN=qemu-system-x86_64
GUEST=${KXFER_GUEST:-auto}
case $GUEST in uml|qemu|auto) ;; *) echo "ktls-guest: KXFER_GUEST must be uml, qemu or auto (got $GUEST)" >&2; exit 2 ;; esac

say() { echo "ktls-guest: $*"; }
skip77() { echo "ktls-guest: $*"; exit 77; }

kernel_version() { # the UML modules tree is named after the kernel release
    local m
    for m in "$D"/uml/usr/lib/uml/modules/*/modules.dep; do
        [ -f "$m" ] && basename "$(dirname "$m")" && return 0
    done
    return 1
}

setup_done() {
    [ -x "$UML" ] && [ -s "$INITRD" ] && [ -f "$D/stamp" ] && [ "$(cat "$D/stamp")" = "$(stamp)" ]
}

# What the initramfs and shim are built from: a change in any of these rebuilds them.
stamp() {
    { cat "$here/guest-init.sh" "$here/guest-xstate-shim.c"; echo "${ROOT_MODULES[*]} 1"; } |
        sha256sum | cut -c1-16
}

qemu_kernel_version() {
    local m
    for m in "$QK"/lib/modules/*/modules.dep; do
        [ -f "$m" ] && basename "$(dirname "$m")" && return 0
    done
    return 1
}

qemu_stamp() {
    { cat "$here/guest-init.sh"; echo "${QEMU_ROOT_MODULES[*]} 1"; } | sha256sum | cut -c1-16
}

qemu_setup_done() {
    command -v "$QEMU_BIN" >/dev/null && [ -s "$QINITRD" ] && [ -f "$QSTAMP" ] &&
        [ "$(cat "$QSTAMP")" = "$(qemu_stamp)" ] && ls "$QK"/boot/vmlinuz-* >/dev/null 2>&1
}

# The backend that run uses: KXFER_GUEST, or for auto the one setup chose ($D/backend),
# or whichever is set up (UML first) in a cache dir older than the choice file.
chosen_backend() {
    [ "$GUEST" != auto ] && { echo "$GUEST"; return 0; }
    local b
    b=$(cat "$D/backend" 2>/dev/null || true)
    case $b in uml|qemu) echo "$b"; return 0 ;; esac
    if setup_done; then echo uml; elif qemu_setup_done; then echo qemu; else echo uml; fi
}

# ---------------------------------------------------------------------------------- setup
fetch_debs() { # fetch_debs PKG... (default: the UML ones)
    mkdir -p "$D/debs"
    local p missing=()
    [ $# -gt 0 ] || set -- "${PKGS[@]}"
    for p in "$@"; do
        ls "$D/debs/${p}_"*.deb >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && { say "packages already downloaded"; return 0; }
    command -v apt-get >/dev/null || skip77 "no apt-get: cannot fetch ${missing[*]}"
    # apt-get download needs no install; it works from the cached package lists.  Only when
    # that fails (fresh image without lists) refresh them once.  As root apt warns that it
    # cannot drop privileges to _apt for our directory: harmless, so its stderr is kept quiet.
    local log=$D/apt.log
    if ! (cd "$D/debs" && apt-get download "${missing[@]}") >"$log" 2>&1; then
        say "apt-get download failed; running apt-get update"
        apt-get update >>"$log" 2>&1 || true
        (cd "$D/debs" && apt-get download "${missing[@]}") >>"$log" 2>&1 ||
            skip77 "apt-get download ${missing[*]} failed: $(grep -E '^(E|Err):' "$log" | tail -n 1)"
    fi
    say "downloaded: $(cd "$D/debs" && ls *.deb | tr '\n' ' ')"
}

unpack() {
    local p deb dest
    for p in "${PKGS[@]}"; do
        deb=$(ls "$D/debs/${p}_"*.deb | tail -n 1)
        case $p in user-mode-linux) dest=$D/uml ;; *) dest=$D/busybox ;; esac
        # Unpack once per .deb: $dest/.deb remembers which one is there.
        if [ "$(cat "$dest/.deb" 2>/dev/null)" != "$(basename "$deb")" ]; then
            rm -rf "$dest"; mkdir -p "$dest"
            dpkg -x "$deb" "$dest"
            basename "$deb" >"$dest/.deb"
            say "unpacked $(basename "$deb") into $dest"
        fi
    done
    [ -x "$UML" ] || skip77 "no $UML after unpacking"
    [ -x "$D/busybox/bin/busybox" ] || skip77 "no busybox in busybox-static"
}

build_shim() {
    if ! command -v cc >/dev/null; then
        rm -f "$SHIM"
        say "warning: no cc; cannot build the xstate shim (the guest needs it on AMX CPUs)"
        return 0
    fi
    cc -O2 -Wall -shared -fPIC -o "$SHIM.tmp" "$here/guest-xstate-shim.c" -ldl
    mv "$SHIM.tmp" "$SHIM"
    say "built $SHIM"
}

# Modules of ROOT_MODULES plus their dependencies, dependencies first, as paths relative
# to the modules tree (modules.dep: "kernel/x/a.ko: kernel/y/b.ko kernel/z/c.ko").
module_order() {
    local dep=$1 m
    shift
    declare -A seen=()
    visit() {
        local path=$1 d
        [ -n "${seen[$path]:-}" ] && return 0
        seen[$path]=1
        for d in $(awk -v p="$path:" '$1 == p { $1 = ""; print; exit }' "$dep"); do visit "$d"; done
        echo "$path"
    }
    for m in "$@"; do
        local path
        path=$(awk -v n="/$m.ko:" 'index($1, n) && substr($1, length($1) - length(n) + 1) == n { print substr($1, 1, length($1) - 1); exit }' "$dep")
        [ -n "$path" ] || skip77 "module $m not in $dep"
        visit "$path"
    done
}

build_initrd() {
    local kver mods
    kver=$(kernel_version) || skip77 "no modules tree in $D/uml"
    mods=$D/uml/usr/lib/uml/modules/$kver
    make_initrd "$mods" "$kver" "$D/initramfs" "$INITRD" "${ROOT_MODULES[@]}"
}

# make_initrd MODULES_DIR KVER WORKDIR OUT.cpio ROOT_MODULE...
make_initrd() {
    local mods=$1 kver=$2 ir=$3 out=$4 bb
    shift 4
    bb=$D/busybox/bin/busybox
    rm -rf "$ir"
    mkdir -p "$ir"/{bin,dev,proc,sys,host,tmp,lib/modules}
    cp "$bb" "$ir/bin/busybox"
    # One symlink per applet, so /init needs no --install at boot.
    local a
    for a in $("$bb" --list); do [ "$a" = busybox ] || ln -s busybox "$ir/bin/$a"; done
    # The kernel opens /dev/console for PID 1 before /init can mount devtmpfs.
    mknod -m 600 "$ir/dev/console" c 5 1
    mknod -m 666 "$ir/dev/null" c 1 3
    module_order "$mods/modules.dep" "$@" >"$ir/modules.order"
    while read -r m; do
        mkdir -p "$ir/lib/modules/$(dirname "$m")"
        cp "$mods/$m" "$ir/lib/modules/$m"
    done <"$ir/modules.order"
    cp "$here/guest-init.sh" "$ir/init"
    chmod 755 "$ir/init"
    # busybox cpio: Debian does not install GNU cpio by default.
    (cd "$ir" && find . | sort | "$bb" cpio -o -H newc -R 0:0 2>/dev/null) >"$out.tmp"
    mv "$out.tmp" "$out"
    say "built $out ($(du -k "$out" | cut -f1) KiB; kernel $kver; modules: $(sed 's|.*/||; s|\.ko$||' "$ir/modules.order" | tr '\n' ' '))"
}

# ---------------------------------------------------------------------------- QEMU setup
qemu_install() {
    command -v "$QEMU_BIN" >/dev/null && return 0
    local log=$D/apt.log
    say "installing qemu-system-x86 (apt-get install --no-install-recommends)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            qemu-system-x86 >"$log" 2>&1; then
        apt-get update >>"$log" 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            qemu-system-x86 >>"$log" 2>&1 ||
            skip77 "cannot install qemu-system-x86 ($(grep -E '^(E|Err):' "$log" | tail -n 1)); run: apt-get install --no-install-recommends qemu-system-x86"
    fi
    command -v "$QEMU_BIN" >/dev/null || skip77 "no $QEMU_BIN after installing qemu-system-x86"
}

# Debian 12's current 6.1 amd64 kernel package, e.g. linux-image-6.1.0-56-amd64.
qemu_kernel_pkg() {
    local p
    p=$(ls "$D"/debs/linux-image-6.1*-amd64_*.deb 2>/dev/null | tail -n 1)
    [ -n "$p" ] && { basename "$p" | cut -d_ -f1; return 0; }
    p=$(apt-cache depends linux-image-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-6\.1.*-amd64$/ { print $2; exit }')
    [ -n "$p" ] || p=$(apt-cache search --names-only '^linux-image-6\.1\.[0-9.]*-[0-9]+-amd64$' 2>/dev/null |
                       awk '{ print $1 }' | sort -V | tail -n 1)
    [ -n "$p" ] || { apt-get update >>"$D/apt.log" 2>&1 || true
                     p=$(apt-cache depends linux-image-amd64 2>/dev/null |
                         awk '$1 == "Depends:" && $2 ~ /^linux-image-6\.1.*-amd64$/ { print $2; exit }'); }
    [ -n "$p" ] || skip77 "no linux-image-6.1*-amd64 package known to apt (apt-cache depends linux-image-amd64)"
    echo "$p"
}

qemu_unpack() {
    local kpkg=$1 deb kver bb=$D/busybox/bin/busybox
    deb=$(ls "$D/debs/${kpkg}_"*.deb | tail -n 1)
    if [ "$(cat "$QK/.deb" 2>/dev/null)" != "$(basename "$deb")" ]; then
        rm -rf "$QK"; mkdir -p "$QK"
        dpkg -x "$deb" "$QK"
        say "unpacked $(basename "$deb") into $QK"
        kver=$(ls "$QK/lib/modules" | head -n 1)
        [ -n "$kver" ] || skip77 "no modules in $(basename "$deb")"
        # The .deb ships no modules.dep (postinst runs depmod); busybox has one when kmod is absent.
        if command -v depmod >/dev/null; then depmod -b "$QK" "$kver"
        else "$bb" depmod -b "$QK" "$kver"; fi
        [ -f "$QK/lib/modules/$kver/modules.dep" ] || skip77 "depmod made no modules.dep"
        basename "$deb" >"$QK/.deb"
    fi
    ls "$QK"/boot/vmlinuz-* >/dev/null 2>&1 || skip77 "no vmlinuz in $(basename "$deb")"
}

setup_qemu() {
    local kpkg kver
    qemu_install
    kpkg=$(qemu_kernel_pkg)
    fetch_debs busybox-static "$kpkg"
    unpack_busybox
    qemu_unpack "$kpkg"
    kver=$(qemu_kernel_version) || skip77 "no modules.dep in $QK"
    make_initrd "$QK/lib/modules/$kver" "$kver" "$D/qemu/initramfs" "$QINITRD" "${QEMU_ROOT_MODULES[@]}"
    qemu_stamp >"$QSTAMP"
    say "QEMU guest set up in $D/qemu (kernel $kver)"
}

unpack_busybox() {
    local deb dest=$D/busybox
    deb=$(ls "$D/debs/busybox-static_"*.deb | tail -n 1)
    if [ "$(cat "$dest/.deb" 2>/dev/null)" != "$(basename "$deb")" ]; then
        rm -rf "$dest"; mkdir -p "$dest"
        dpkg -x "$deb" "$dest"
        basename "$deb" >"$dest/.deb"
        say "unpacked $(basename "$deb") into $dest"
    fi
    [ -x "$D/busybox/bin/busybox" ] || skip77 "no busybox in busybox-static"
}

setup_uml() {
    fetch_debs
    unpack
    build_shim
    build_initrd
    stamp >"$D/stamp"
}

# One boot that runs `true`: proves the backend works here (auto mode, once per cache dir).
boot_check() {
    local out rc=0
    out=$(cd / && KXFER_GUEST=$1 "$here/ktls-guest.sh" run --timeout "${2:-60}" -- true 2>&1) || rc=$?
    [ "$rc" -eq 0 ] && return 0
    echo "$out" | tail -n 1 | sed 's/^ktls-guest: //'
    return 1
}

cmd_setup() {
    [ "$(id -u)" -eq 0 ] || skip77 "setup needs root (apt-get, mknod)"
    case $D in /*) ;; *) skip77 "KXFER_GUEST_DIR must be absolute: $D" ;; esac
    mkdir -p "$D" || skip77 "cannot create $D"
    # Parallel test runs may call setup together: one builds, the others wait.
    exec 9>"$D/.lock"
    flock 9
    case $GUEST in
    uml)
        if setup_done; then
            say "already set up in $D (kernel $(kernel_version))"
            return 0
        fi
        setup_uml
        say "setup done in $D" ;;
    qemu)
        mkdir -p "$D/qemu"
        if qemu_setup_done; then
            say "already set up in $D/qemu (QEMU, kernel $(qemu_kernel_version))"
            return 0
        fi
        setup_qemu
        say "setup done in $D/qemu (QEMU)" ;;
    auto)
        local b why rc
        b=$(cat "$D/backend" 2>/dev/null || true)
        if [ "$b" = uml ] && setup_done; then
            say "already set up in $D (kernel $(kernel_version))"; return 0
        elif [ "$b" = qemu ] && qemu_setup_done; then
            say "already set up in $D/qemu (QEMU, kernel $(qemu_kernel_version))"; return 0
        fi
        rm -f "$D/backend"
        # UML first: set up (in a subshell, so that its exit 77 comes back here) and boot once.
        set +e
        ( set -e; setup_done || setup_uml )
        rc=$?
        set -e
        if [ "$rc" -eq 0 ]; then
            if why=$(boot_check uml 60); then
                echo uml >"$D/backend"
                say "setup done in $D (user-mode Linux, kernel $(kernel_version))"
                return 0
            fi
            say "UML guest does not boot here ($why); trying QEMU"
        else
            say "UML guest setup failed (exit $rc); trying QEMU"
        fi
        mkdir -p "$D/qemu"
        qemu_setup_done || setup_qemu
        why=$(boot_check qemu 300) || skip77 "neither UML nor QEMU guest boots here (QEMU: $why)"
        echo qemu >"$D/backend"
        say "setup done in $D/qemu (QEMU, kernel $(qemu_kernel_version))" ;;
    esac
}

cmd_status() {
    local b
    b=$(chosen_backend)
    if [ "$b" = uml ] && setup_done; then
        echo "set up: yes ($D)"
        echo "backend: uml (KXFER_GUEST=$GUEST)"
        echo "kernel: $(kernel_version) user-mode Linux ($(cat "$D/uml/.deb"))"
        [ -f "$SHIM" ] && echo "xstate shim: $SHIM" || echo "xstate shim: none"
    elif [ "$b" = qemu ] && qemu_setup_done; then
        echo "set up: yes ($D/qemu)"
        echo "backend: qemu (KXFER_GUEST=$GUEST)"
        echo "kernel: $(qemu_kernel_version) amd64 under QEMU TCG ($(cat "$QK/.deb"); $("$QEMU_BIN" --version | head -n 1))"
    else
        echo "set up: no ($D, backend $b); run: $0 setup"
        return 1
    fi
}

# ------------------------------------------------------------------------------------ run
# Where UML keeps guest memory (an unlinked file, mapped executable): /dev/shm is fastest,
# but a small /dev/shm (64 MiB in Docker) would crash the guest when it fills.
pick_tmpdir() {
    local need_kb want=$1
    [ -n "${KXFER_GUEST_TMPDIR:-}" ] && { echo "$KXFER_GUEST_TMPDIR"; return; }
    case $want in
    *G) need_kb=$(( ${want%G} * 1048576 )) ;;
    *M) need_kb=$(( ${want%M} * 1024 )) ;;
    *)  need_kb=1048576 ;;
    esac
    if [ -d /dev/shm ] && [ -w /dev/shm ] &&
       [ "$(df -Pk /dev/shm | awk 'NR==2 {print $4}')" -ge "$need_kb" ]; then
        echo /dev/shm
    else
        echo /tmp
    fi
}

cmd_run() {
    local timeout=${KXFER_GUEST_TIMEOUT:-600}
    while [ $# -gt 0 ]; do
        case $1 in
        --timeout) timeout=$2; shift 2 ;;
        --timeout=*) timeout=${1#*=}; shift ;;
        --) shift; break ;;
        *) break ;;
        esac
    done
    [ $# -gt 0 ] || { echo "usage: $0 run [--timeout S] -- CMD [ARGS...]" >&2; exit 2; }
    local backend
    backend=$(chosen_backend)
    if [ "$backend" = qemu ]; then
        qemu_setup_done || skip77 "QEMU guest not set up in $D/qemu (run: KXFER_GUEST=$GUEST $0 setup)"
    else
        setup_done || skip77 "guest not set up in $D (run: $0 setup)"
    fi

    local mem=${KXFER_GUEST_MEM:-1024M} tmpdir tmp tag
    [ "$backend" = uml ] && tmpdir=$(pick_tmpdir "$mem")
    # Under /tmp, not /dev/shm: the guest mounts its own tmpfs over /dev/shm.
    tmp=$(mktemp -d /tmp/kxfer-guest.XXXXXX)
    trap 'rm -rf "$tmp"' EXIT
    tag=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')

    # The command as a script: its arguments and environment are quoted by bash (%q) here
    # and never pass through the kernel command line, which only carries the script's path.
    {
        echo '#!/bin/bash'
        local v
        for v in $(compgen -e); do
            case $v in PWD|OLDPWD|SHLVL|_|BASH_*) continue ;; esac
            printf 'export %s=%q\n' "$v" "${!v}"
        done
        echo 'export KXFER_IN_GUEST=1'
        printf 'cd -- %q || exit 125\n' "$PWD"
        printf 'exec'; printf ' %q' "$@"; printf '\n'
    } >"$tmp/cmd.sh"

    # Guest stdout comes through a FIFO so this shell can wait interruptibly (a trap does not
    # run while bash waits for a foreground pipeline) and forward SIGTERM to UML.
    mkfifo "$tmp/out"
    # awk: hide our marker lines, keep the command's bytes, remember the status.
    awk -v tag="$tag" -v rcfile="$tmp/rc" -v bootlog="$tmp/boot.log" '
        BEGIN { boot = "KXFER-GUEST-BOOTED " tag; exit_m = "KXFER-GUEST-EXIT " tag " " }
        done { next }                              # after the exit marker: shutdown noise
        $0 == boot { print "booted" > rcfile; close(rcfile); booted = 1; next }
        !booted { print > bootlog; next }          # kernel errors before CMD: kept for "why"
        (i = index($0, exit_m)) > 0 {
            printf "%s", substr($0, 1, i - 1)      # output that did not end in a newline
            print "exit " substr($0, i + length(exit_m)) > rcfile; close(rcfile)
            done = 1; fflush(); next
        }
        { print; fflush() }' <"$tmp/out" &
    local awk_pid=$!

    local shim_env=()
    [ -f "$SHIM" ] && shim_env=(LD_PRELOAD="$SHIM")
    local t0=$EPOCHREALTIME uml_rc=0 err_pid= hold_out hold_err
    if [ "$backend" = qemu ]; then
    # Serial port 0 (console=ttyS0: /dev/console) carries CMD's stdout, port 1 (/dev/ttyS1)
    # its stderr; both are FIFOs (a file chardev would truncate a regular-file stdout).
    # The host's / is exported over virtio-9p (mount tag "host"), like hostfs for UML.
    # This shell holds both FIFOs open (read-write never blocks) until QEMU is gone, so the
    # readers see EOF even when QEMU fails before opening its chardevs; children close them.
    mkfifo "$tmp/err"
    exec {hold_out}<>"$tmp/out" {hold_err}<>"$tmp/err"
    cat "$tmp/err" >&2 {hold_out}>&- {hold_err}>&- &
    err_pid=$!
    local kver
    kver=$(qemu_kernel_version)
    # TCG is several times slower than UML and boots in ~10 s: stretch the caller's timeout.
    if [ "$timeout" != 0 ]; then
        timeout=$(awk -v t="$timeout" -v s="${KXFER_GUEST_TIMEOUT_SCALE:-3}" -v b="${KXFER_GUEST_BOOT_S:-30}" \
                  'BEGIN { printf "%d", t * s + b + 0.999 }')
    fi
    timeout -k 10 -s TERM "$timeout" "$QEMU_BIN" \
        -name "kxfer-$tag" -accel tcg -cpu max -smp "${KXFER_GUEST_CPUS:-2}" -m "$mem" \
        -display none -vga none -monitor none -no-reboot -nic none -nodefaults \
        -chardev file,id=s0,path="$tmp/out" -serial chardev:s0 \
        -chardev file,id=s1,path="$tmp/err" -serial chardev:s1 \
        -virtfs local,path=/,mount_tag=host,security_model=passthrough,id=host,multidevs=remap \
        -kernel "$QK/boot/vmlinuz-$kver" -initrd "$QINITRD" \
        -append "console=ttyS0 quiet panic=-1 mitigations=off kxfer_run=$tmp/cmd.sh kxfer_tag=$tag kxfer_err=/dev/ttyS1" \
        </dev/null >"$tmp/uml.err" 2>&1 {hold_out}>&- {hold_err}>&- &
    else
    # Guest console 0 (/dev/console) is UML's stdout, console 1 (/dev/tty1) is fd 3 = our
    # stderr; UML's own stderr (host-side errors before the kernel runs) goes to a file.
    # timeout -s TERM: SIGKILL would leave UML's ptrace helper processes behind; -k only as
    # the last resort.  uml_dir keeps UML's pid file and mconsole socket out of $HOME/.uml.
    # quiet: kernel errors (not info) during boot reach the console; awk keeps them in
    # boot.log to explain a failed boot.  /init then lowers the console log level so that
    # only panics mix with CMD's output.
    env TMPDIR="$tmpdir" "${shim_env[@]}" \
        timeout -k 10 -s TERM "$timeout" "$UML" \
        mem="$mem" initrd="$INITRD" umid="kxfer-$tag" uml_dir="$tmp" \
        con=null con0=fd:0,fd:1 con1=null,fd:3 quiet panic=-1 \
        kxfer_run="$tmp/cmd.sh" kxfer_tag="$tag" \
        </dev/null >"$tmp/out" 3>&2 2>"$tmp/uml.err" &
    fi
    local uml_pid=$!
    local signalled=
    trap 'signalled=1; kill -TERM $uml_pid 2>/dev/null' TERM INT HUP
    while :; do
        uml_rc=0
        wait $uml_pid 2>/dev/null || uml_rc=$?  # no "Aborted" job notice on a panic
        kill -0 $uml_pid 2>/dev/null || break   # wait was interrupted by a trapped signal
    done
    trap - TERM INT HUP
    local secs
    secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')

    # Never leave UML processes behind (they would also keep the FIFO open): every one of
    # them is a linux.uml that carries our umid in its argv.
    local left
    left=$(ps -eo pid=,comm=,args= |
           awk -v u="umid=kxfer-$tag" -v q="-name kxfer-$tag" \
               '($2 == "linux.uml" && index($0, u)) || ($2 ~ /^qemu-system/ && index($0, q)) { print $1 }')
    if [ -n "$left" ]; then
        echo "ktls-guest: killing leftover guest processes: $left" >&2
        kill -KILL $left 2>/dev/null || true
    fi
    [ -n "$err_pid" ] && exec {hold_out}>&- {hold_err}>&-
    wait $awk_pid || true
    [ -n "$err_pid" ] && { wait $err_pid || true; }

    local status rc
    status=$(tail -n 1 "$tmp/rc" 2>/dev/null || true)
    [ -n "$signalled" ] && [ "${status%% *}" != exit ] && status=signalled
    case $status in
    "exit "*) rc=${status#exit } ;;
    signalled) echo "ktls-guest: stopped by a signal" >&2; rc=143 ;;
    booted)
        if [ "$uml_rc" -eq 124 ]; then
            echo "ktls-guest: timed out after ${timeout}s" >&2; rc=124
        else
            echo "ktls-guest: guest died without an exit status ($backend exit $uml_rc)" >&2; rc=125
        fi ;;
    *)
        # The guest never reached /init's command: say why in one line on stdout (runner).
        # Every boot logs a few harmless errors (SELinux, mmapper, no ubd disk): skip those.
        local why
        cat "$tmp/uml.err" "$tmp/boot.log" 2>/dev/null |
            grep -v -E '^\s*$|SELinux|mmapper_init|ubd device 0' >"$tmp/why" || true
        tail -n 30 "$tmp/why" | sed 's/^/  | /' >&2
        why=$(awk '/panic|[Ff]ail|[Ee]rror|[Cc]annot/ { print; found = 1; exit }
                   { last = $0 } END { if (!found && NR) print last }' "$tmp/why")
        [ "$uml_rc" -eq 124 ] && why="boot timed out after ${timeout}s"
        case $why in *"fp regs failed"*) [ -f "$SHIM" ] ||
            why="$why; this CPU needs the xstate shim: install cc and rerun setup" ;; esac
        echo "ktls-guest: guest did not boot ($backend exit $uml_rc${why:+: $why})"
        rc=77 ;;
    esac
    [ -n "${KXFER_GUEST_VERBOSE:-}" ] && echo "ktls-guest: guest ran ${secs}s, status $rc" >&2
    rm -rf "$tmp"
    exit "$rc"
}

case ${1:-} in
setup)  cmd_setup ;;
run)    shift; cmd_run "$@" ;;
status) cmd_status ;;
*)      sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
