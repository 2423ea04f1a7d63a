/* Request paths.  Normalisation is lexical and pure; confinement is the kernel's job
 * (openat2 with RESOLVE_BENEATH), so a symlink inside the root that points outside it
 * fails with EXDEV however it is reached. */
#include "path.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int path_decode(const char *src, size_t n, char *dst, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)src[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -1;
			hi = hexval((unsigned char)src[i + 1]);
			lo = hexval((unsigned char)src[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi << 4 | lo;
			i += 2;
		}
		if (c == 0 || o + 1 >= cap)
			return -1;
		dst[o++] = (char)c;
	}
	dst[o] = 0;
	return (int)o;
}

int path_from_target(const char *target, char *out, size_t cap, bool *trailing_slash)
{
	char decoded[PATH_REL_MAX];
	size_t n, o = 0;
	char *seg, *save = NULL;

	/* absolute-form (RFC 9112 3.2.2): drop "scheme://authority" */
	if (!strncmp(target, "https://", 8) || !strncmp(target, "http://", 7)) {
		target = strchr(strstr(target, "//") + 2, '/');
		if (!target)
			target = "/";
	}
	if (target[0] != '/')
		return -400;
	n = strcspn(target, "?#");
	if (path_decode(target, n, decoded, sizeof(decoded)) < 0)
		return -400;
	n = strlen(decoded);
	*trailing_slash = n > 0 && decoded[n - 1] == '/';

	out[0] = 0;
	for (seg = strtok_r(decoded, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
		size_t len = strlen(seg);

		if (!strcmp(seg, "."))
			continue;
		if (!strcmp(seg, "..")) {
			char *slash;

			if (o == 0)
				return -403; /* would climb above the root */
			out[o] = 0;
			slash = strrchr(out, '/');
			o = slash ? (size_t)(slash - out) : 0;
			out[o] = 0;
			continue;
		}
		if (o + (o > 0) + len + 1 > cap)
			return -400;
		if (o > 0)
			out[o++] = '/';
		memcpy(out + o, seg, len);
		o += len;
		out[o] = 0;
	}
	return 0;
}

/* Without openat2 (Linux before 5.6, or valgrind, which does not know it): walk the path
 * one component at a time with O_NOFOLLOW.  Stricter than RESOLVE_BENEATH: every symlink is
 * refused, even one that stays inside the root.  ".." never reaches here (normalised away). */
static int open_by_components(int rootfd, const char *rel, int flags, mode_t mode)
{
	char buf[PATH_REL_MAX], *save = NULL, *seg, *next;
	int dir = rootfd, fd = -1;

	if (snprintf(buf, sizeof(buf), "%s", rel) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	seg = strtok_r(buf, "/", &save);
	if (!seg) {
		fd = openat(rootfd, ".", flags | O_CLOEXEC, mode);
		return fd < 0 ? -errno : fd;
	}
	if (rel[0] == '/')
		return -EXDEV;
	for (; seg; seg = next) {
		struct stat st;

		next = strtok_r(NULL, "/", &save);
		if (!strcmp(seg, ".."))
			fd = -EXDEV;
		else if (next)
			fd = openat(dir, seg, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		else
			fd = openat(dir, seg, flags | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd == -1)
			fd = errno == ELOOP ? -EXDEV : -errno;
		if (fd >= 0 && next && fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) {
			close(fd);
			fd = S_ISLNK(st.st_mode) ? -EXDEV : -ENOTDIR;
		}
		if (dir != rootfd)
			close(dir);
		if (fd < 0)
			return fd;
		dir = fd;
	}
	return fd;
}

int path_open(int rootfd, const char *rel, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (unsigned)flags | O_CLOEXEC,
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	fd = syscall(SYS_openat2, rootfd, *rel ? rel : ".", &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		return open_by_components(rootfd, rel, flags, mode);
	return fd < 0 ? -errno : (int)fd;
}

/* One existing directory below dir, never a symlink: -ELOOP for one, -ENOTDIR for a file. */
static int open_subdir(int dir, const char *name)
{
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
	};
	struct stat st;
	long fd;

	fd = syscall(SYS_openat2, dir, name, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		return (int)fd;
	if (errno != ELOOP && errno != ENOTDIR)
		return -errno;
	/* Which of the two it is does not depend on the kernel's order of checks. */
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return S_ISLNK(st.st_mode) ? -ELOOP : -ENOTDIR;
}

int path_mkdirs(int rootfd, const char *rel, bool create, size_t *bad_len)
{
	char buf[PATH_REL_MAX], *seg, *save = NULL;
	int dir, fd;

	*bad_len = 0;
	if (snprintf(buf, sizeof(buf), "%s", rel) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	/* A real descriptor even for the root (an O_PATH one cannot be fsync'ed). */
	dir = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -errno;
	for (seg = strtok_r(buf, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
		*bad_len = (size_t)(seg - buf) + strlen(seg);
		if (!strcmp(seg, ".."))
			fd = -EXDEV; /* normalised away before this; never trust it */
		else
			fd = open_subdir(dir, seg);
		if (fd == -ENOENT && create) {
			/* EEXIST: another request made it first.  The parent is fsync'ed at once so
			 * that the new name survives a crash with the file put beneath it; rare
			 * enough (only when a PUT creates directories) to be done synchronously. */
			if (mkdirat(dir, seg, 0755) == 0)
				fd = fsync(dir) < 0 ? -errno : open_subdir(dir, seg);
			else
				fd = errno == EEXIST ? open_subdir(dir, seg) : -errno;
		}
		close(dir);
		if (fd < 0)
			return fd;
		dir = fd;
	}
	return dir;
}

const char *path_split(const char *rel, char *dir, size_t cap)
{
	const char *slash = strrchr(rel, '/');
	size_t n = slash ? (size_t)(slash - rel) : 0;

	if (cap == 0)
		return slash ? slash + 1 : rel;
	if (n >= cap)
		n = cap - 1;
	memcpy(dir, rel, n);
	dir[n] = 0;
	return slash ? slash + 1 : rel;
}
