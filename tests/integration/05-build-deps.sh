#!/usr/bin/env bash
# make on a machine without the -dev packages (or without pkg-config) says which Debian
# packages are missing and to run `make deps`, instead of failing with a compiler error.
# pkg-config is pointed at an empty directory, and PATH at one without pkg-config, so that
# both look like a fresh machine; nothing is compiled.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

command -v make >/dev/null || { skip "make is not installed"; exit 77; }
mkdir -p "$T/empty" "$T/bin"
B=$T/build

PKG_CONFIG_LIBDIR=$T/empty make -C "$TOP" BUILD="$B" >"$T/out" 2>"$T/err"
is "no -dev packages: make fails" "$?" 2
sed 's/^/# /' "$T/err"
check "no -dev packages: it names the missing libraries" grep -q "missing the development files of libssl libcrypto liburing" "$T/err"
check "no -dev packages: it names the Debian packages" grep -q "install the Debian packages libssl-dev liburing-dev" "$T/err"
check "no -dev packages: it says to run make deps" grep -q "run 'make deps'" "$T/err"
check "no -dev packages: no compiler ran" sh -c "! grep -q 'cc .*-c -o' '$T/out' && ! grep -q 'error:' '$T/err'"
check "no -dev packages: no object was built" test -z "$(find "$B" -name '*.o' 2>/dev/null)"

# Only liburing missing: a pkg-config directory with OpenSSL's .pc files alone.
for pc in libssl libcrypto; do
    f=$(pkg-config --variable=pcfiledir "$pc" 2>/dev/null)/$pc.pc
    [ -f "$f" ] && cp "$f" "$T/empty/"
done
if [ -f "$T/empty/libssl.pc" ]; then
    PKG_CONFIG_LIBDIR=$T/empty make -C "$TOP" BUILD="$B" >/dev/null 2>"$T/err2"
    is "only liburing missing: make fails" "$?" 2
    check "only liburing missing: it names liburing-dev alone" grep -q "install the Debian packages liburing-dev:" "$T/err2"
else
    skip "only liburing missing: libssl.pc not found here"
fi

# No pkg-config at all.
for b in sh make cc gcc mkdir echo cmp git cat rm; do
    p=$(command -v "$b") && ln -sf "$p" "$T/bin/$b"
done
PATH=$T/bin make -C "$TOP" BUILD="$B" >/dev/null 2>"$T/err3"
is "no pkg-config: make fails" "$?" 2
check "no pkg-config: it names pkg-config and the -dev packages" \
    grep -q "install the Debian packages libssl-dev liburing-dev pkg-config" "$T/err3"

# make help and make deps's own checks still work without them.
PKG_CONFIG_LIBDIR=$T/empty make -C "$TOP" help >/dev/null 2>&1
is "make help works without the packages" "$?" 0
finish
