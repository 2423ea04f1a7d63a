/* Request paths: decoding and normalising a request target (pure), and opening it
 * confined to the served root (openat2 RESOLVE_BENEATH). */
#ifndef KXFER_PATH_H
#define KXFER_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PATH_REL_MAX 4096

/* Uploads in progress: never listed, never a request's target. */
#define UPLOAD_TMP_PREFIX ".kxfer-upload-"

/* Turns a request target ("/a/b%20c?q=1") into a path relative to the root ("a/b c";
 * "" for the root itself): strips the query, percent-decodes, removes "." and empty
 * segments and resolves "..".  Returns 0, -400 (bad escape, NUL, not origin-form, too
 * long) or -403 (".." above the root).  *trailing_slash tells whether it ended in '/'. */
int path_from_target(const char *target, char *out, size_t cap, bool *trailing_slash);

/* Percent-decodes src into dst (cap bytes including the NUL); -1 on a bad escape or NUL. */
int path_decode(const char *src, size_t n, char *dst, size_t cap);

/* openat2(root, rel, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): neither ".." nor a
 * symlink can leave the root.  rel "" opens the root itself.  Returns fd or -errno
 * (-EXDEV for an escape attempt). */
int path_open(int rootfd, const char *rel, int flags, mode_t mode);

/* Opens the directory rel (relative to the root), one component at a time and never
 * through a symlink (RESOLVE_NO_SYMLINKS): with create, a missing component is made
 * (mkdirat 0755, its parent fsync'ed); without, nothing is.  Returns the directory's fd or
 * -errno: -ELOOP for a symlink, -ENOTDIR for something that is not a directory.
 * *bad_len is then the length of the prefix of rel that names the failing component. */
int path_mkdirs(int rootfd, const char *rel, bool create, size_t *bad_len);

/* Splits "a/b/c" into the directory "a/b" (written to dir) and returns "c". */
const char *path_split(const char *rel, char *dir, size_t cap);

#endif
