/* Many files over many connections: kxfer get -r / put -r and get --parallel.
 *
 * tree.c is the engine: a queue of tasks (a whole file, or one byte range of a large one),
 * N worker threads each holding one keep-alive connection, a rate limit shared by all, the
 * progress line and the summary.  tree_get.c and tree_put.c say what a task does. */
#ifndef KXFER_TREE_H
#define KXFER_TREE_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "client.h"
#include "fileio.h"

#define TREE_BUF (1024 * 1024)

struct tfile {
	char *rel;               /* relative path, '/'-separated, as on both sides */
	uint64_t size;
	int64_t size_now;        /* the size a response showed a changed file has now; -1: none */
	time_t mtime;            /* 0: unknown */
	/* get: the part file and its chunks */
	int fd, state_fd;
	uint64_t chunk;          /* bytes per chunk; 0: not planned yet */
	unsigned nchunks, left;  /* chunks, and those not complete yet */
	unsigned active;         /* tasks of this file running now */
	uint64_t *done;          /* per chunk: bytes written from its start */
	char etag[160];
	uint8_t digest[32];      /* the server's Repr-Digest */
	bool has_digest, changed, finished;
	bool rest_queued;        /* the chunks after the first are in the queue */
	bool prealloc;           /* the part file was made its full size before the bytes came */
	unsigned tries;          /* times it had to start over */
	int code;                /* exit code of its failure, 0 */
	char *why;
};

struct task {
	struct tfile *f;
	unsigned chunk;
	unsigned attempts;
};

struct tree;

struct tree_ops {
	/* Runs one task on the worker's connection; returns an exit code, EXIT_OK when the
	 * task is finished (or was handed back to the queue). */
	int (*run)(struct tree *t, struct client *c, struct fileio *io, char **buf, struct task *k);
	/* The file's last queued or running task is over (called with t->lock held). */
	void (*idle)(struct tree *t, struct tfile *f);
};

struct tree {
	struct client_opts *o;
	const struct tree_ops *ops;
	const char *local;       /* destination dir (get) or source dir (put) */
	bool single;             /* one file: local is its path, the URL names it */
	bool upload;             /* the body goes out (put): count connections by tx path */
	struct url url;          /* base_url parsed */
	struct tfile **files;
	size_t nfiles, files_cap;

	pthread_mutex_t lock;
	pthread_cond_t cond;     /* workers wait on it for tasks */
	pthread_cond_t gone;     /* the main thread waits on it for workers to end */
	struct task *q;
	size_t qhead, qlen, qcap;
	unsigned busy;           /* tasks being run */
	size_t est_tasks;        /* about how many tasks there will be: no idle connections */
	unsigned workers_alive;
	bool abort;              /* a fatal error (TLS, usage): stop everyone */
	bool told_fewer;         /* "going on with fewer connections" was said */
	int fatal_code;
	char fatal[512];

	/* results */
	uint64_t bytes, bytes_total, skipped_bytes;
	unsigned done_files, skipped, failed;
	unsigned conns[3];       /* connections per path of the body direction: ktls, userspace, plain */
	char tls_version[32], cipher[64], ktls_note[200];
	double rate_t;           /* --limit-rate: when the bytes sent so far are allowed */
};

/* Sets up t for o->url; an exit code (the URL is checked here). */
int tree_init(struct tree *t, struct client_opts *o, const struct tree_ops *ops);
/* Stops the transfer: every worker ends, the summary reports why. */
void tree_stop(struct tree *t, int code, const char *why);
/* Adds a file to the plan (rel is copied). */
struct tfile *tree_add(struct tree *t, const char *rel, uint64_t size, time_t mtime);
/* Queues a task (the lock is taken here unless locked is true). */
void tree_push(struct tree *t, struct tfile *f, unsigned chunk, unsigned attempts, bool locked);
/* Records a failed file (a reason, printed and in --json). */
void tree_fail(struct tree *t, struct tfile *f, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The same with t->lock held (ops->idle). */
void tree_fail_locked(struct tree *t, struct tfile *f, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Counts bytes moved, for the progress line; sleeps as --limit-rate requires. */
void tree_account(struct tree *t, uint64_t n);
/* The most a read or write should move at once under --limit-rate. */
size_t tree_slice(const struct tree *t, size_t want);
/* A file is complete (or skipped). */
void tree_file_done(struct tree *t, struct tfile *f, bool skipped);
/* Runs every queued task over --parallel connections; returns the exit code. */
int tree_run(struct tree *t, double t0);
void tree_free(struct tree *t);

/* The request target of a file: the base URL's path plus rel, each segment
 * percent-encoded. */
int tree_target(const struct tree *t, const struct tfile *f, char *out, size_t cap);
/* The directory listing at url (JSON, recursive): adds every file under it to t.
 * 404 at the top counts as empty when missing_ok. */
int tree_discover(struct tree *t, struct client *c, bool missing_ok);

/* --parallel's default: the online CPUs (a connection's TLS is one core's work), at least 2,
 * at most 16. */
unsigned tree_default_parallel(void);
/* tree_part.c: a download's files on disk. */
struct part_paths {
	char final[PATH_MAX], part[PATH_MAX], state[PATH_MAX];
};

int part_paths(const struct tree *t, const struct tfile *f, struct part_paths *p);
/* Bytes in chunk k; the size of chunk ranges for f. */
uint64_t part_chunk_len(const struct tfile *f, unsigned k);
uint64_t part_chunk_size(const struct tree *t, const struct tfile *f);
/* Opens the part file and plans the chunks, fresh or from an earlier run's state. */
int part_open(struct tree *t, struct tfile *f, struct part_paths *p);
/* Persists the header (once the ETag is known) and chunk k's progress. */
void part_save_header(const struct tfile *f);
void part_save_done(struct tfile *f, unsigned k);
/* Every chunk is in: verify, set the mtime, rename into place (or fail the file). */
void part_finish(struct tree *t, struct tfile *f, const struct part_paths *p);

int tree_get(struct client_opts *o, const char *dest);
int tree_put(struct client_opts *o, const char *src);
/* get --parallel N for one file. */
int tree_get_one(struct client_opts *o, const char *dest);

#endif
