/* Directory listings.  The plain-text form is kxfer's own: one name per line, '/' after
 * directories.  The JSON form is byte for byte nginx's "autoindex_format json" (CRLF
 * between entries included), so that a client written against nginx reads ours:
 *
 *     [
 *     { "name":"a.txt", "type":"file", "mtime":"Tue, 01 Dec 2026 06:08:26 GMT", "size":123 },
 *     { "name":"sub", "type":"directory", "mtime":"Tue, 01 Dec 2026 06:08:26 GMT" }
 *     ]
 *
 * Unlike nginx, entries are sorted by name only and hidden files are listed. */
#include "dirlist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "path.h"
#include "util.h"

struct entry {
	char *name;
	unsigned char d_type;
};

static int cmp_entries(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static bool listed(const char *name)
{
	return strcmp(name, ".") && strcmp(name, "..") &&
	       strncmp(name, UPLOAD_TMP_PREFIX, strlen(UPLOAD_TMP_PREFIX));
}

/* The names in d, sorted. */
static int read_entries(DIR *d, struct entry **out, size_t *count)
{
	struct entry *v = NULL, *grown;
	size_t n = 0, cap = 0;
	struct dirent *e;

	errno = 0;
	while ((e = readdir(d)) != NULL) {
		if (!listed(e->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(v, cap * sizeof(*v));
			if (!grown)
				goto oom;
			v = grown;
		}
		v[n].d_type = e->d_type;
		v[n].name = strdup(e->d_name);
		if (!v[n].name)
			goto oom;
		n++;
	}
	if (errno) {
		int err = -errno;

		*out = v;
		*count = n;
		return err;
	}
	if (n > 1) /* qsort wants an array, even of nothing */
		qsort(v, n, sizeof(*v), cmp_entries);
	*out = v;
	*count = n;
	return 0;
oom:
	*out = v;
	*count = n;
	return -ENOMEM;
}

static void text_entry(FILE *f, int dirfd, const struct entry *e)
{
	bool dir = e->d_type == DT_DIR;
	struct stat st;

	if (e->d_type == DT_UNKNOWN && fstatat(dirfd, e->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		dir = S_ISDIR(st.st_mode);
	fprintf(f, "%s%s\n", e->name, dir ? "/" : "");
}

/* A symlink stands for what it resolves to, but only beneath the root (path_open refuses
 * the rest); false when it leads outside, loops or dangles. */
static bool resolve_link(int rootfd, const char *rel, const char *name, struct stat *st)
{
	char path[PATH_REL_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "", name) >= (int)sizeof(path))
		return false;
	fd = path_open(rootfd, path, O_PATH, 0);
	if (fd < 0)
		return false;
	if (fstat(fd, st) < 0) {
		close(fd);
		return false;
	}
	close(fd);
	return true;
}

/* One "{ ... }" object, after a separator unless first; false when the entry vanished
 * since readdir (then nothing is written). */
static bool json_entry(FILE *f, int rootfd, const char *rel, int dirfd, const struct entry *e,
		       bool first)
{
	struct stat st, target;
	const char *type = "other";
	char date[40];

	if (fstatat(dirfd, e->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	if (S_ISLNK(st.st_mode) && resolve_link(rootfd, rel, e->name, &target))
		st = target;
	if (S_ISREG(st.st_mode))
		type = "file";
	else if (S_ISDIR(st.st_mode))
		type = "directory";
	fputs(first ? "\r\n{ \"name\":" : ",\r\n{ \"name\":", f);
	json_string(f, e->name);
	fprintf(f, ", \"type\":\"%s\", \"mtime\":\"%s\"", type,
		http_date(st.st_mtime, date, sizeof(date)));
	if (S_ISREG(st.st_mode))
		fprintf(f, ", \"size\":%lld", (long long)st.st_size);
	fputs(" }", f);
	return true;
}

int dirlist(int rootfd, const char *rel, int dirfd, enum dirlist_format fmt, char **body,
	    size_t *len)
{
	DIR *d = fdopendir(dirfd);
	struct entry *v = NULL;
	size_t n = 0, written = 0;
	FILE *f = NULL;
	int rc;

	*body = NULL;
	*len = 0;
	if (!d) {
		rc = -errno;
		close(dirfd);
		return rc;
	}
	rc = read_entries(d, &v, &n);
	if (rc)
		goto out;
	f = open_memstream(body, len);
	if (!f) {
		rc = -ENOMEM;
		goto out;
	}
	if (fmt == DIRLIST_JSON)
		fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		if (fmt == DIRLIST_TEXT) {
			text_entry(f, dirfd, &v[i]);
			continue;
		}
		if (json_entry(f, rootfd, rel, dirfd, &v[i], written == 0))
			written++;
	}
	if (fmt == DIRLIST_JSON)
		fputs("\r\n]", f);
	rc = ferror(f) ? -ENOMEM : 0;
	if (fclose(f) != 0)
		rc = -ENOMEM;
out:
	if (rc) {
		free(*body);
		*body = NULL;
		*len = 0;
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	closedir(d);
	return rc;
}
