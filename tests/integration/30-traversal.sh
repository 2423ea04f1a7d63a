#!/usr/bin/env bash
# Path traversal: dot-dot segments (plain and percent-encoded), absolute paths, symlinks
# leaving the root, NUL bytes, non-regular files.  Nothing outside the root may ever be
# served; symlinks that stay inside the root work.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

make_tree "$T/root"
R=$T/root
echo "TOPSECRET-$$-outside" >"$T/secret.txt"
mkdir -p "$T/outdir"
echo "INNERSECRET-$$" >"$T/outdir/inner.txt"
ln -s ../secret.txt "$R/leak"            # relative, leaves the root
ln -s "$T/secret.txt" "$R/leakabs"       # absolute, leaves the root
ln -s /etc/passwd "$R/passwd"
ln -s ../outdir "$R/leakdir"             # directory outside the root
ln -s ../../secret.txt "$R/sub/leak2"    # from a subdirectory
ln -s one "$R/link"                      # inside the root
ln -s ../one "$R/sub/up"                 # inside the root, through '..'
ln -s sub "$R/sublink"                   # directory inside the root
mkfifo "$R/fifo"                         # not a regular file (opening it must not block)

start_serve serve --root "$R" || { notok "kxfer serve starts"; finish; }

SECRETS=(-e TOPSECRET -e INNERSECRET -e 'root:x:0:0' -e 'root:.*:/bin/')
# noleak PATH [EXTRA-GREP-PATTERN]: status 400/403/404 and no secret in the body.
noleak() {
    local p=$1 code
    code=$(req leak --path-as-is "$URL$p")
    if grep -aq "${SECRETS[@]}" ${2:+-e "$2"} "$T/leak.b"; then
        notok "GET $p: must not serve content from outside the root (LEAKED, status $code)"
        head -c 200 "$T/leak.b" | head -n 3 | sed 's/^/#   body: /'; echo
    else
        is_in "GET $p: refused with 400/403/404, nothing leaked" "$code" 400 403 404
    fi
}

noleak "/../secret.txt"
noleak "/../../../../../../../../etc/passwd"
noleak "/sub/../../secret.txt"
noleak "/./../secret.txt"
noleak "/%2e%2e/secret.txt"
noleak "/%2E%2E/secret.txt"
noleak "/.%2e/secret.txt"
noleak "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd"
noleak "/%2e%2e%2fsecret.txt"
noleak "/..%2fsecret.txt"
noleak "/sub/%2e%2e%2f%2e%2e%2fsecret.txt"
noleak "/sub/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd"
noleak "/%252e%252e/secret.txt"
noleak "//etc/passwd"
noleak "/%2fetc%2fpasswd"
noleak "/sub/..%5c..%5csecret.txt"
# Symlinks leaving the root: 403 (contract) -- 404 tolerated -- but never the content.
noleak "/leak"
noleak "/leakabs"
noleak "/passwd"
noleak "/sub/leak2"
noleak "/leakdir/inner.txt"
noleak "/leakdir/" "inner.txt"
noleak "/leakdir" "inner.txt"
code=$(req leakh -I "$URL/leak")
is_in "HEAD /leak (symlink leaving the root): 403/404" "$code" 403 404
is "HEAD /leak: does not reveal the outside file's size" \
    "$(hdr "$T/leakh.h" Content-Length | grep -x "$(stat -c %s "$T/secret.txt")")" ""

# Raw request line, no client-side normalisation at all.
printf 'GET /../secret.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' | raw >"$T/rawtrav"
if grep -aq TOPSECRET "$T/rawtrav"; then notok "raw 'GET /../secret.txt': LEAKED"
else is_in "raw 'GET /../secret.txt': 400/403/404" "$(status_line "$T/rawtrav")" 400 403 404; fi

# NUL bytes.
is "GET /one%00: 400" "$(st --path-as-is "$URL/one%00")" 400
is "GET /one%00.txt: 400" "$(st --path-as-is "$URL/one%00.txt")" 400
is "GET /sub%00/hello.txt: 400" "$(st --path-as-is "$URL/sub%00/hello.txt")" 400

# Not a regular file.
is "GET /fifo (a FIFO): 403, without blocking" "$(st --max-time 5 "$URL/fifo")" 403
check "server alive after the FIFO request" alive

# Symlinks that stay inside the root.
is "GET /link (symlink to a file inside the root): 200 x" "$(req link "$URL/link")/$(cat "$T/link.b")" "200/x"
is "GET /sub/up (symlink ../one inside the root): 200 x" "$(req up "$URL/sub/up")/$(cat "$T/up.b")" "200/x"
is "GET /sublink/hello.txt (dir symlink inside the root): 200" \
    "$(req sl "$URL/sublink/hello.txt")/$(cat "$T/sl.b")" "200/hello from sub"
is "GET /%6fne (percent-encoded unreserved char) is /one" "$(req pe --path-as-is "$URL/%6fne")/$(cat "$T/pe.b")" "200/x"

check "server alive at the end" alive
is "GET / still 200 at the end" "$(st "$URL/")" 200
finish
