/* Discovery for the tree client: walks a remote directory through its JSON listings
 * (kxfer serve, or nginx with autoindex_format json) and plans every file under it. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "listing.h"
#include "tree.h"
#include "util.h"

#define LISTING_MAX (64u << 20)    /* a listing larger than this is not a directory listing */
#define DEPTH_MAX 64

/* Lists one directory (rel "" for the top) and adds what it holds; subdirectories are
 * appended to dirs. */
static int list_one(struct tree *t, struct client *c, const char *rel, char ***dirs, size_t *ndirs,
		    bool missing_ok)
{
	struct tfile probe = { .rel = (char *)rel };
	char target[8192], *body = NULL, path[4096];
	struct listing l;
	size_t len, where;
	int rc;

	if (tree_target(t, &probe, target, sizeof(target)))
		return EXIT_USAGE;
	if (*rel && strlen(target) + 2 < sizeof(target))
		strcat(target, "/");
	rc = client_request(c, "GET", target, "Accept: application/json\r\n");
	if (rc == EXIT_OK)
		rc = client_read_head(c, false);
	if (rc == EXIT_OK)
		rc = client_read_small_body(c, &body, &len, LISTING_MAX);
	if (rc != EXIT_OK)
		return rc;
	client_next_response(c);
	if (c->resp.status == 404 && !*rel && missing_ok) {
		free(body);
		return EXIT_OK;
	}
	if (c->resp.status >= 300) {
		body[strcspn(body, "\r\n")] = 0;
		snprintf(c->err, sizeof(c->err), "listing %s: HTTP %d %s%s%.200s", target, c->resp.status,
			 http_reason(c->resp.status), *body ? ": " : "", body);
		free(body);
		return EXIT_HTTP;
	}
	if (listing_parse(body, len, &l, &where)) {
		snprintf(c->err, sizeof(c->err), "listing %s: not a JSON directory listing (at byte %zu); the "
			 "server must be kxfer serve, or nginx with autoindex on and autoindex_format json",
			 target, where);
		free(body);
		return EXIT_PROTOCOL;
	}
	free(body);
	rc = EXIT_OK;
	for (size_t i = 0; i < l.n && rc == EXIT_OK; i++) {
		const struct listing_entry *e = &l.e[i];

		if (snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "", e->name) >= (int)sizeof(path)) {
			snprintf(c->err, sizeof(c->err), "path too long under %s", rel);
			rc = EXIT_PROTOCOL;
		} else if (e->type == ENTRY_FILE) {
			if (!tree_add(t, path, e->size > 0 ? (uint64_t)e->size : 0, e->mtime))
				rc = EXIT_OTHER;
		} else if (e->type == ENTRY_DIR) {
			char **grown = realloc(*dirs, (*ndirs + 1) * sizeof(**dirs));
			char local[PATH_MAX];

			/* A download makes its directories as it finds them, parents first; one
			 * that cannot be made fails its files, each with the reason. */
			if (t->local && !t->upload &&
			    snprintf(local, sizeof(local), "%s/%s", t->local, path) < (int)sizeof(local) &&
			    mkdir(local, 0755) < 0 && errno != EEXIST)
				log_debug("%s: %s", local, strerror(errno));

			if (!grown || !(grown[*ndirs] = strdup(path))) {
				if (grown)
					*dirs = grown;
				rc = EXIT_OTHER;
			} else {
				*dirs = grown;
				(*ndirs)++;
			}
		} else {
			log_debug("%s: neither a file nor a directory, skipped", path);
		}
	}
	listing_free(&l);
	if (rc == EXIT_OTHER)
		snprintf(c->err, sizeof(c->err), "out of memory");
	return rc;
}

int tree_discover(struct tree *t, struct client *c, bool missing_ok)
{
	char **dirs = NULL;
	size_t ndirs = 0;
	int rc = list_one(t, c, "", &dirs, &ndirs, missing_ok);

	/* Breadth first; the list grows while it is walked. */
	for (size_t i = 0; i < ndirs && rc == EXIT_OK; i++) {
		size_t depth = 1;

		for (const char *p = dirs[i]; *p; p++)
			depth += *p == '/';
		if (depth > DEPTH_MAX) {
			snprintf(c->err, sizeof(c->err), "%s: deeper than %d directories", dirs[i], DEPTH_MAX);
			rc = EXIT_PROTOCOL;
			break;
		}
		rc = list_one(t, c, dirs[i], &dirs, &ndirs, false);
	}
	for (size_t i = 0; i < ndirs; i++)
		free(dirs[i]);
	free(dirs);
	return rc;
}
