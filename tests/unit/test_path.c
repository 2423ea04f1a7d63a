/* Unit tests for src/path.c: target normalisation, percent-decoding, splitting, and
 * confined opening (openat2 RESOLVE_BENEATH) against a temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "path.h"
#include "unit.h"

static void target_ok(const char *target, const char *want, bool want_slash)
{
	char out[PATH_REL_MAX], name[256];
	bool slash = !want_slash;
	int rc;

	memset(out, 'X', sizeof(out));
	out[sizeof(out) - 1] = 0;
	rc = path_from_target(target, out, sizeof(out), &slash);
	snprintf(name, sizeof(name), "target \"%.60s\" -> \"%s\"", target, want);
	if (!CHECK(name, rc == 0 && !strcmp(out, want)))
		printf("#   rc %d, out \"%.80s\"\n", rc, rc == 0 ? out : "");
	snprintf(name, sizeof(name), "target \"%.60s\": trailing_slash %d", target, want_slash);
	CHECK(name, rc == 0 && slash == want_slash);
}

static void target_err(const char *target, int want)
{
	char out[PATH_REL_MAX], name[256];
	bool slash;

	snprintf(name, sizeof(name), "target \"%.60s\" -> %d", target, want);
	CHECK_INT(name, path_from_target(target, out, sizeof(out), &slash), want);
}

static void test_from_target(void)
{
	char out[8], *longt;
	bool slash;
	size_t n = 5000;

	target_ok("/", "", true);
	target_ok("/a/b", "a/b", false);
	target_ok("/a//b/./c", "a/b/c", false);
	target_ok("/a/../b", "b", false);
	target_ok("/a/b/../../c", "c", false);
	target_ok("/a/./../b", "b", false);
	target_ok("/a/..", "", false);
	target_ok("/./", "", true);
	target_ok("//a///b//", "a/b", true);
	target_ok("/...", "...", false);
	target_ok("/..a/b..", "..a/b..", false);
	target_ok("/dir/", "dir", true);
	target_ok("/dir", "dir", false);
	target_ok("/a%20b", "a b", false);
	target_ok("/%41%62c", "Abc", false);
	target_ok("/a%2fb", "a/b", false);
	target_ok("/a%2Fb%2F", "a/b", true);
	target_ok("/%e2%82%ac", "\xe2\x82\xac", false);
	target_ok("/a/b?x=../../etc", "a/b", false);
	target_ok("/a/b#frag/../..", "a/b", false);
	target_ok("/a?%zz", "a", false);
	target_ok("/dir/?q=1", "dir", true);
	target_ok("/a?b/", "a", false);
	target_ok("https://h/x", "x", false);
	target_ok("https://h:8443/a/b/", "a/b", true);
	target_ok("http://h/a/../b", "b", false);
	target_ok("https://h", "", true);

	target_err("/../x", -403);
	target_err("/..", -403);
	target_err("/a/../../x", -403);
	target_err("/./../x", -403);
	target_err("/%2e%2e/x", -403);
	target_err("/%2E%2E/x", -403);
	target_err("/.%2e/x", -403);
	target_err("/%2e%2e%2fetc", -403);
	target_err("/a/%2e%2e%2f%2e%2e%2fetc%2fpasswd", -403);
	target_err("/a%2f..%2f..%2fx", -403);
	target_err("https://h/../x", -403);
	target_err("%2e%2e/x", -400);
	target_err("../x", -400);
	target_err("x", -400);
	target_err("", -400);
	target_err("*", -400);
	target_err("/%00", -400);
	target_err("/a%00b", -400);
	target_err("/%zz", -400);
	target_err("/%4", -400);
	target_err("/%", -400);
	target_err("/a%2", -400);
	target_err("/%g0", -400);
	target_err("/%0g", -400);

	/* Over-long: a decoded path of PATH_REL_MAX bytes or more. */
	longt = malloc(n + 1);
	longt[0] = '/';
	memset(longt + 1, 'a', n - 1);
	longt[n] = 0;
	CHECK_INT("target 5000 bytes -> -400", path_from_target(longt, out, sizeof(out), &slash), -400);
	longt[PATH_REL_MAX - 1] = 0; /* "/" + 4094 'a': decodes, but out[8] is too small */
	CHECK_INT("target fits decode but not out -> -400", path_from_target(longt, out, sizeof(out), &slash), -400);
	free(longt);

	/* The output buffer bound is exact. */
	CHECK_INT("target /abcdefg fits out[8]", path_from_target("/abcdefg", out, 8, &slash), 0);
	CHECK_STR("target /abcdefg value", out, "abcdefg");
	CHECK_INT("target /abcdefgh does not fit out[8]", path_from_target("/abcdefgh", out, 8, &slash), -400);
	CHECK_INT("target /abc/defg does not fit out[8]", path_from_target("/abc/defg", out, 8, &slash), -400);
	CHECK_INT("target /abc/def fits out[8]", path_from_target("/abc/def", out, 8, &slash), 0);
	CHECK_STR("target /abc/def value", out, "abc/def");
}

static void test_decode(void)
{
	char d[16];

	CHECK_INT("decode a%20b: length", path_decode("a%20b", 5, d, sizeof(d)), 3);
	CHECK_STR("decode a%20b: value", d, "a b");
	CHECK_INT("decode only n bytes", path_decode("abcdef", 2, d, sizeof(d)), 2);
	CHECK_STR("decode only n bytes: value", d, "ab");
	CHECK_INT("decode %41", path_decode("%41", 3, d, sizeof(d)), 1);
	CHECK_STR("decode %41: value", d, "A");
	CHECK_INT("decode %2F uppercase", path_decode("%2F%2f", 6, d, sizeof(d)), 2);
	CHECK_STR("decode %2F uppercase: value", d, "//");
	CHECK_INT("decode %ff", path_decode("%ff", 3, d, sizeof(d)), 1);
	CHECK_INT("decode %ff: byte", (unsigned char)d[0], 0xff);
	CHECK_INT("decode empty", path_decode("", 0, d, sizeof(d)), 0);
	CHECK_STR("decode empty: value", d, "");
	CHECK_INT("decode +", path_decode("a+b", 3, d, sizeof(d)), 3);
	CHECK_STR("decode +: not a space", d, "a+b");
	CHECK_INT("decode %4", path_decode("%4", 2, d, sizeof(d)), -1);
	CHECK_INT("decode %41 cut at n=2", path_decode("%41", 2, d, sizeof(d)), -1);
	CHECK_INT("decode lone %", path_decode("%", 1, d, sizeof(d)), -1);
	CHECK_INT("decode %0g", path_decode("%0g", 3, d, sizeof(d)), -1);
	CHECK_INT("decode %g0", path_decode("%g0", 3, d, sizeof(d)), -1);
	CHECK_INT("decode %00", path_decode("a%00", 4, d, sizeof(d)), -1);
	CHECK_INT("decode cap too small", path_decode("abcd", 4, d, 4), -1);
	CHECK_INT("decode cap exact", path_decode("abcd", 4, d, 5), 4);
	CHECK_STR("decode cap exact: value", d, "abcd");
	CHECK_INT("decode escape counts once against cap", path_decode("%41%42%43", 9, d, 4), 3);
	CHECK_STR("decode escape counts once: value", d, "ABC");
}

static void test_split(void)
{
	char dir[16];
	const char *rel = "a/b/c", *base;

	base = path_split(rel, dir, sizeof(dir));
	CHECK_STR("split a/b/c: dir", dir, "a/b");
	CHECK_STR("split a/b/c: base", base, "c");
	CHECK("split a/b/c: base points into rel", base == rel + 4);
	base = path_split("file", dir, sizeof(dir));
	CHECK_STR("split file: dir", dir, "");
	CHECK_STR("split file: base", base, "file");
	base = path_split("d/", dir, sizeof(dir));
	CHECK_STR("split d/: dir", dir, "d");
	CHECK_STR("split d/: base", base, "");
	base = path_split("", dir, sizeof(dir));
	CHECK_STR("split empty: dir", dir, "");
	CHECK_STR("split empty: base", base, "");
	base = path_split("x/y", dir, 1);
	CHECK_STR("split cap 1: no overflow, dir truncated to empty", dir, "");
	CHECK_STR("split cap 1: base", base, "y");
}

static int read_all(int fd, char *buf, size_t cap)
{
	ssize_t n = read(fd, buf, cap - 1);

	buf[n > 0 ? n : 0] = 0;
	return (int)n;
}

static void test_open(void)
{
	char root[] = "/tmp/kxfer-unit-path.XXXXXX", p[PATH_MAX], buf[64], escape[64];
	int rootfd, fd;
	bool fallback;
	struct stat st, rst;

	if (!mkdtemp(root)) {
		SKIP("path_open", "mkdtemp failed");
		return;
	}
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(p, sizeof(p), "%s/f", root);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (rootfd < 0 || fd < 0 || write(fd, "hello", 5) != 5) {
		SKIP("path_open", "cannot set up the temporary root");
		return;
	}
	close(fd);
	mkdirat(rootfd, "d", 0755);
	fd = openat(rootfd, "d/g", O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd >= 0 && write(fd, "gee", 3) == 3)
		close(fd);
	symlinkat("/etc/passwd", rootfd, "evil");
	symlinkat("..", rootfd, "up");
	symlinkat("f", rootfd, "good");
	symlinkat("../f", rootfd, "d/good2");
	symlinkat(p, rootfd, "abs"); /* absolute, even though it points inside */
	snprintf(escape, sizeof(escape), "%s.escape", strrchr(root, '/') + 1);

	/* Without openat2 (old kernels, valgrind) path_open walks components with O_NOFOLLOW
	 * and refuses every symlink, even one that stays inside. */
	fallback = syscall(SYS_openat2, -1, "", NULL, 0) < 0 && errno == ENOSYS;
	fd = path_open(rootfd, "", O_RDONLY | O_DIRECTORY, 0);
	CHECK("open \"\": opens the root", fd >= 0);
	CHECK("open \"\": same inode as the root",
	      fd >= 0 && !fstat(fd, &st) && !fstat(rootfd, &rst) && st.st_ino == rst.st_ino &&
		      st.st_dev == rst.st_dev && S_ISDIR(st.st_mode));
	CHECK("open \"\": O_CLOEXEC set", fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC));
	if (fd >= 0)
		close(fd);

	fd = path_open(rootfd, "f", O_RDONLY, 0);
	CHECK("open f: fd", fd >= 0);
	CHECK_STR("open f: content", fd >= 0 && read_all(fd, buf, sizeof(buf)) == 5 ? buf : "", "hello");
	if (fd >= 0)
		close(fd);
	fd = path_open(rootfd, "d/g", O_RDONLY, 0);
	CHECK_STR("open d/g: content", fd >= 0 && read_all(fd, buf, sizeof(buf)) == 3 ? buf : "", "gee");
	if (fd >= 0)
		close(fd);
	fd = path_open(rootfd, "good", O_RDONLY, 0);
	if (fallback)
		CHECK_INT("open symlink to a file inside (no openat2): -EXDEV", fd, -EXDEV);
	else
		CHECK_STR("open symlink to a file inside: content",
			  fd >= 0 && read_all(fd, buf, sizeof(buf)) == 5 ? buf : "", "hello");
	if (fd >= 0)
		close(fd);
	fd = path_open(rootfd, "d/good2", O_RDONLY, 0);
	if (fallback)
		CHECK_INT("open relative symlink ../f (no openat2): -EXDEV", fd, -EXDEV);
	else
		CHECK_STR("open relative symlink ../f staying inside: content",
			  fd >= 0 && read_all(fd, buf, sizeof(buf)) == 5 ? buf : "", "hello");
	if (fd >= 0)
		close(fd);

	CHECK_INT("open symlink to /etc/passwd: -EXDEV", path_open(rootfd, "evil", O_RDONLY, 0), -EXDEV);
	CHECK_INT("open absolute symlink: -EXDEV", path_open(rootfd, "abs", O_RDONLY, 0), -EXDEV);
	CHECK_INT("open ../x: -EXDEV", path_open(rootfd, "../x", O_RDONLY, 0), -EXDEV);
	CHECK_INT("open d/../../x: -EXDEV", path_open(rootfd, "d/../../x", O_RDONLY, 0), -EXDEV);
	CHECK_INT("open /etc/passwd: -EXDEV", path_open(rootfd, "/etc/passwd", O_RDONLY, 0), -EXDEV);
	CHECK_INT("open via symlink to ..: -EXDEV", path_open(rootfd, "up/f", O_RDONLY, 0), -EXDEV);
	snprintf(p, sizeof(p), "up/%s", escape);
	CHECK_INT("create via symlink to ..: -EXDEV",
		  path_open(rootfd, p, O_WRONLY | O_CREAT | O_EXCL, 0644), -EXDEV);
	snprintf(p, sizeof(p), "/tmp/%s", escape);
	CHECK("create via symlink to ..: nothing created outside", access(p, F_OK) != 0);
	if (access(p, F_OK) == 0)
		unlink(p);
	CHECK_INT("open missing file: -ENOENT", path_open(rootfd, "nope", O_RDONLY, 0), -ENOENT);

	umask(022);
	fd = path_open(rootfd, "d/new", O_WRONLY | O_CREAT | O_EXCL, 0640);
	CHECK("create d/new: fd", fd >= 0);
	CHECK_INT("create d/new: mode", fd >= 0 && !fstat(fd, &st) ? (int)(st.st_mode & 07777) : -1, 0640);
	if (fd >= 0)
		close(fd);
	CHECK_INT("create d/new again with O_EXCL: -EEXIST",
		  path_open(rootfd, "d/new", O_WRONLY | O_CREAT | O_EXCL, 0640), -EEXIST);
	unlinkat(rootfd, "d/new", 0);
	unlinkat(rootfd, "abs", 0);
	unlinkat(rootfd, "d/good2", 0);
	unlinkat(rootfd, "good", 0);
	unlinkat(rootfd, "up", 0);
	unlinkat(rootfd, "evil", 0);
	unlinkat(rootfd, "d/g", 0);
	unlinkat(rootfd, "d", AT_REMOVEDIR);
	unlinkat(rootfd, "f", 0);
	close(rootfd);
	CHECK("temporary root removed", rmdir(root) == 0);
}

int main(void)
{
	test_from_target();
	test_decode();
	test_split();
	test_open();
	return unit_done();
}
