/* Directory listings: plain text (one name per line) and the JSON of nginx's
 * "autoindex_format json", for clients that walk a tree. */
#ifndef KXFER_DIRLIST_H
#define KXFER_DIRLIST_H

#include <stddef.h>

enum dirlist_format { DIRLIST_TEXT, DIRLIST_JSON };

/* Lists the directory dirfd, which is rel below rootfd (symlinks are resolved from the
 * root, never outside it): sorted by name, without ".", ".." and upload temporaries.
 * Takes dirfd (closes it).  Returns 0 with a malloc'ed *body of *len bytes, or -errno. */
int dirlist(int rootfd, const char *rel, int dirfd, enum dirlist_format fmt, char **body,
	    size_t *len);

#endif
