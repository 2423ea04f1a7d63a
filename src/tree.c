/* The engine behind get -r, put -r and get --parallel: a queue of tasks, --parallel worker
 * threads each with one keep-alive connection (its own TLS session, kTLS where the host
 * has it, and its own io_uring for the files), a shared --limit-rate, one progress line
 * for the whole transfer and the summary.
 *
 * Threads rather than one event loop: the client's connections are blocking with
 * timeouts (client.c), and a thread per connection spreads the TLS work over the cores,
 * which is what --parallel is for on links faster than one core can encrypt. */
#include "tree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls.h"
#include "util.h"

#define MAX_ATTEMPTS 5        /* per task: resets, 503s, a server that went away */
#define CONNECT_FAILURES 3    /* a worker that cannot connect this often gives up its slot */
#define FDS_PER_CONN 6
#define FDS_SPARE 16          /* stdio, the discovery connection, OpenSSL's files */
#define REFUSALS_MAX 20       /* 503s in a row the last connection waits through */

int tree_init(struct tree *t, struct client_opts *o, const struct tree_ops *ops)
{
	const char *why;
	size_t n;

	memset(t, 0, sizeof(*t));
	t->o = o;
	t->ops = ops;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	pthread_cond_init(&t->gone, NULL);
	if (url_parse(o->url, &t->url, &why)) {
		log_err("%s: %s", o->url, why);
		tree_free(t);
		return EXIT_USAGE;
	}
	/* a tree's URL is a directory: "https://h/dir" means "https://h/dir/" */
	n = strcspn(t->url.target, "?");
	if (o->recursive && n && t->url.target[n - 1] != '/' && n + 1 < sizeof(t->url.target)) {
		memmove(t->url.target + n + 1, t->url.target + n, strlen(t->url.target + n) + 1);
		t->url.target[n] = '/';
	}
	return EXIT_OK;
}

unsigned tree_default_parallel(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return (unsigned)MIN(MAX(n, 2), 16);
}

struct tfile *tree_add(struct tree *t, const char *rel, uint64_t size, time_t mtime)
{
	struct tfile *f = calloc(1, sizeof(*f));

	if (!f || !(f->rel = strdup(rel)))
		goto oom;
	if (t->nfiles == t->files_cap) {
		size_t cap = t->files_cap ? t->files_cap * 2 : 256;
		struct tfile **grown = realloc(t->files, cap * sizeof(*grown));

		if (!grown)
			goto oom;
		t->files = grown;
		t->files_cap = cap;
	}
	f->size = size;
	f->size_now = -1;
	f->mtime = mtime;
	f->fd = f->state_fd = -1;
	t->files[t->nfiles++] = f;
	t->bytes_total += size;
	return f;
oom:
	if (f)
		free(f->rel);
	free(f);
	return NULL;
}

void tree_push(struct tree *t, struct tfile *f, unsigned chunk, unsigned attempts, bool locked)
{
	if (!locked)
		pthread_mutex_lock(&t->lock);
	if (t->qlen == t->qcap) {
		size_t cap = t->qcap ? t->qcap * 2 : 256;
		struct task *q = malloc(cap * sizeof(*q));

		if (!q) { /* cannot queue it: the file fails, nothing is lost */
			f->code = EXIT_OTHER;
			goto out;
		}
		for (size_t i = 0; i < t->qlen; i++)
			q[i] = t->q[(t->qhead + i) % t->qcap];
		free(t->q);
		t->q = q;
		t->qhead = 0;
		t->qcap = cap;
	}
	t->q[(t->qhead + t->qlen++) % t->qcap] = (struct task){ f, chunk, attempts };
	f->active++;
	pthread_cond_signal(&t->cond); /* one task, one worker: no herd */
out:
	if (!locked)
		pthread_mutex_unlock(&t->lock);
}

static void fail(struct tree *t, struct tfile *f, int code, bool locked, const char *fmt, va_list ap)
{
	char *why = NULL;

	if (vasprintf(&why, fmt, ap) < 0)
		why = NULL;
	if (!locked)
		pthread_mutex_lock(&t->lock);
	if (!f->code && !f->finished) {
		f->code = code;
		f->why = why;
		f->finished = true;
		t->failed++;
		why = NULL;
		if (t->single) /* the reason names the file already */
			log_err("%s", f->why ? f->why : "failed");
		else
			log_err("%s: %s", f->rel, f->why ? f->why : "failed");
	}
	if (!locked)
		pthread_mutex_unlock(&t->lock);
	free(why);
}

void tree_fail(struct tree *t, struct tfile *f, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fail(t, f, code, false, fmt, ap);
	va_end(ap);
}

void tree_fail_locked(struct tree *t, struct tfile *f, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fail(t, f, code, true, fmt, ap);
	va_end(ap);
}

void tree_file_done(struct tree *t, struct tfile *f, bool skipped)
{
	pthread_mutex_lock(&t->lock);
	f->finished = true;
	if (skipped) {
		t->skipped++;
		t->skipped_bytes += f->size;
	} else {
		t->done_files++;
	}
	pthread_mutex_unlock(&t->lock);
}

size_t tree_slice(const struct tree *t, size_t want)
{
	uint64_t most = t->o->limit_rate / 8; /* about eight sleeps a second */

	return t->o->limit_rate ? (size_t)MIN((uint64_t)want, MAX(most, 4096)) : want;
}

void tree_account(struct tree *t, uint64_t n)
{
	double now, wait = 0;

	pthread_mutex_lock(&t->lock);
	t->bytes += n;
	if (t->o->limit_rate) {
		now = now_sec();
		if (t->rate_t < now - 0.1) /* idle time is not saved up beyond a tenth of a second */
			t->rate_t = now - 0.1;
		t->rate_t += (double)n / (double)t->o->limit_rate;
		wait = t->rate_t - now;
	}
	pthread_mutex_unlock(&t->lock);
	if (wait > 0)
		nanosleep(&(struct timespec){ (time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9) }, NULL);
}

static void encode_segment(const char *s, size_t n, char *out, size_t *o, size_t cap)
{
	for (size_t i = 0; i < n && *o + 4 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    strchr("-._~", ch))
			out[(*o)++] = (char)ch;
		else
			*o += (size_t)snprintf(out + *o, 4, "%%%02X", ch);
	}
	out[*o] = 0;
}

int tree_target(const struct tree *t, const struct tfile *f, char *out, size_t cap)
{
	size_t o = strcspn(t->url.target, "?"), n;
	const char *p = f->rel;

	if (t->single)
		return snprintf(out, cap, "%s", t->url.target) < (int)cap ? 0 : -ENAMETOOLONG;
	if (o + 1 >= cap)
		return -ENAMETOOLONG;
	memcpy(out, t->url.target, o);
	if (o == 0 || out[o - 1] != '/')
		out[o++] = '/';
	out[o] = 0;
	for (; *p; p += n + (p[n] == '/')) {
		n = strcspn(p, "/");
		encode_segment(p, n, out, &o, cap);
		if (p[n] == '/' && o + 1 < cap)
			out[o++] = '/', out[o] = 0;
	}
	return o + 4 < cap ? 0 : -ENAMETOOLONG;
}

static void note_connection(struct tree *t, struct client *c)
{
	const char *path = client_path_name(c, t->upload);

	pthread_mutex_lock(&t->lock);
	t->conns[!strcmp(path, "ktls") ? 0 : !strcmp(path, "userspace") ? 1 : 2]++;
	if (c->tls && !t->tls_version[0]) {
		snprintf(t->tls_version, sizeof(t->tls_version), "%s", tls_version(c->tls));
		snprintf(t->cipher, sizeof(t->cipher), "%s", tls_cipher(c->tls));
	}
	if (c->ktls_why[0] && !t->ktls_note[0])
		snprintf(t->ktls_note, sizeof(t->ktls_note), "%s", c->ktls_why);
	pthread_mutex_unlock(&t->lock);
}

void tree_stop(struct tree *t, int code, const char *why)
{
	pthread_mutex_lock(&t->lock);
	if (!t->abort) {
		t->abort = true;
		t->fatal_code = code;
		snprintf(t->fatal, sizeof(t->fatal), "%s", why);
	}
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

/* Takes the next task; false when there is none and none can come. */
static bool next_task(struct tree *t, struct task *k)
{
	bool got = false;

	pthread_mutex_lock(&t->lock);
	while (!t->abort && t->qlen == 0 && t->busy > 0)
		pthread_cond_wait(&t->cond, &t->lock);
	if (!t->abort && t->qlen > 0) {
		*k = t->q[t->qhead];
		t->qhead = (t->qhead + 1) % t->qcap;
		t->qlen--;
		t->busy++;
		got = true;
	}
	pthread_mutex_unlock(&t->lock);
	return got;
}

static void task_over(struct tree *t, struct task *k)
{
	pthread_mutex_lock(&t->lock);
	t->busy--;
	if (--k->f->active == 0 && t->ops->idle) /* decided under the lock: no two tasks both */
		t->ops->idle(t, k->f);          /* think the other is still running */
	if (t->qlen == 0 && t->busy == 0)
		pthread_cond_broadcast(&t->cond); /* nothing left nor coming: everyone may go */
	pthread_mutex_unlock(&t->lock);
}

/* A task that met a passing failure goes back to the queue, after a pause that grows
 * with its attempts (a server at --max-conns answers 503). */
static void retry(struct tree *t, struct task *k, int code, const char *why)
{
	if (k->attempts + 1 >= MAX_ATTEMPTS) {
		tree_fail(t, k->f, code, "%s (after %u attempts)", why, k->attempts + 1);
		return;
	}
	usleep(100000u << MIN(k->attempts, 5u));
	tree_push(t, k->f, k->chunk, k->attempts + 1, false);
}

/* A worker that cannot do its part (no descriptors, no connection, a full server) leaves
 * the work to the others; the last one stays.  Said once. */
static bool leave_to_others(struct tree *t, const char *why)
{
	bool others;

	pthread_mutex_lock(&t->lock);
	others = t->workers_alive > 1;
	if (others && !t->told_fewer && !t->o->quiet)
		log_info("%s: going on with fewer connections", why);
	t->told_fewer |= others;
	pthread_mutex_unlock(&t->lock);
	return others;
}

static void *worker(void *arg)
{
	struct tree *t = arg;
	struct client c = { .fd = -1 };
	struct fileio io;
	char *buf[FILEIO_SLOTS] = { malloc(TREE_BUF), malloc(TREE_BUF) };
	bool connected = false;
	unsigned connect_failures = 0, refusals = 0;
	double failing = 0; /* since when this worker's connects fail */
	struct task k;
	int rc = -ENOMEM;

	if (!buf[0] || !buf[1] || (rc = fileio_init(&io, -1)) < 0) {
		char why[160];

		snprintf(why, sizeof(why), "cannot set up a connection's buffers or io_uring: %s",
			 strerror(-rc));
		if (!leave_to_others(t, why))
			tree_stop(t, EXIT_OTHER, why);
		goto out;
	}
	while (next_task(t, &k)) {
		if (!connected) {
			rc = client_connect(&c, t->o);
			if (rc == EXIT_TLS || rc == EXIT_USAGE || rc == EXIT_OTHER) {
				tree_stop(t, rc, c.err);
				task_over(t, &k);
				client_close(&c);
				break;
			}
			if (rc != EXIT_OK) {
				client_close(&c);
				retry(t, &k, rc, c.err);
				task_over(t, &k);
				if (!connect_failures++)
					failing = now_sec();
				if (connect_failures < CONNECT_FAILURES)
					continue;
				if (leave_to_others(t, c.err))
					break;
				/* The last connection: a server gone for --timeout is given up on once,
				 * not file by file, MAX_ATTEMPTS each. */
				if (now_sec() - failing >= t->o->timeout) {
					char why[sizeof(c.err) + 64];

					snprintf(why, sizeof(why), "no connection for %u s: %s", t->o->timeout, c.err);
					tree_stop(t, rc, why);
					break;
				}
				continue;
			}
			connected = true;
			connect_failures = 0;
			note_connection(t, &c);
			/* OpenSSL reads whole socket buffers from now on: bodies are many records */
			if (c.tls && !c.rx_kernel && !c.rec.rx_on)
				tls_read_ahead(c.tls);
		}
		c.err[0] = 0;
		c.resp.status = 0;
		rc = t->ops->run(t, &c, &io, buf, &k);
		if (rc == EXIT_NETWORK && c.resp.status == 503 && refusals < REFUSALS_MAX) {
			/* The server is at its connection limit: hand the task back, wait, and
			 * leave the slot to the others if this keeps happening. */
			client_close(&c);
			connected = false;
			tree_push(t, k.f, k.chunk, k.attempts, false);
			task_over(t, &k);
			if (++refusals >= 3 && leave_to_others(t, "the server is at its connection limit (503)"))
				break;
			usleep(100000u << MIN(refusals, 4u));
			continue;
		}
		refusals = 0;
		if (rc == EXIT_NETWORK || rc == EXIT_PROTOCOL || rc == EXIT_RESUME)
			retry(t, &k, rc, c.err[0] ? c.err : "connection lost");
		else if (rc != EXIT_OK) /* TLS, local I/O (a full disk): the file fails, said why */
			tree_fail(t, k.f, rc, "%s", c.err[0] ? c.err : "failed");
		if (rc != EXIT_OK || !c.resp.keep_alive) {
			client_close(&c);
			connected = false;
		}
		task_over(t, &k);
	}
	client_close(&c);
	fileio_exit(&io);
out:
	free(buf[0]);
	free(buf[1]);
	pthread_mutex_lock(&t->lock);
	t->workers_alive--;
	pthread_cond_signal(&t->gone);
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static void draw_progress(struct tree *t, double t0, bool *drawn)
{
	char have[32], all[32], eta[32] = "";
	double secs = now_sec() - t0, rate;
	uint64_t total = t->bytes_total - t->skipped_bytes;

	rate = secs > 0 ? (double)t->bytes / secs : 0;
	if (rate > 0 && total > t->bytes)
		snprintf(eta, sizeof(eta), "  ETA %.0f s", (double)(total - t->bytes) / rate);
	fprintf(stderr, "\r%u/%zu files  %s / %s  %.1f MB/s%s   ", t->done_files + t->skipped + t->failed,
		t->nfiles, human_bytes(t->bytes, have, sizeof(have)), human_bytes(total, all, sizeof(all)),
		rate / 1e6, eta);
	*drawn = true;
}

static int summary(struct tree *t, double secs)
{
	static const char *const names[] = { "ktls", "userspace", "plain" };
	const struct client_opts *o = t->o;
	double mbps = secs > 0 ? (double)t->bytes / secs / 1e6 : 0;
	int code = t->abort ? t->fatal_code : EXIT_OK;
	char human[32], conns[96] = "";

	for (size_t i = 0; i < t->nfiles && code == EXIT_OK; i++)
		if (t->files[i]->code)
			code = t->files[i]->code;
	for (size_t i = 0; i < t->nfiles && code != EXIT_VERIFY; i++)
		if (t->files[i]->code == EXIT_VERIFY)
			code = EXIT_VERIFY; /* a wrong byte outranks every other failure */
	for (unsigned i = 0; i < 3; i++)
		if (t->conns[i])
			snprintf(conns + strlen(conns), sizeof(conns) - strlen(conns), "%s%s x%u",
				 conns[0] ? ", " : "", names[i], t->conns[i]);
	if (t->abort)
		log_err("%s", t->fatal);
	if (o->json) {
		fprintf(stdout, "{\"url\":");
		json_string(stdout, o->url);
		fprintf(stdout, ",\"exit_code\":%d,\"files\":%u,\"files_total\":%zu,\"bytes\":%llu,"
			"\"skipped\":%u,\"skipped_bytes\":%llu,\"seconds\":%.6f,\"mbps\":%.2f,\"tls_version\":",
			code, t->done_files, t->nfiles, (unsigned long long)t->bytes, t->skipped,
			(unsigned long long)t->skipped_bytes, secs, mbps);
		json_string(stdout, t->tls_version);
		fprintf(stdout, ",\"cipher\":");
		json_string(stdout, t->cipher);
		fprintf(stdout, ",\"connections\":{\"ktls\":%u,\"userspace\":%u,\"plain\":%u},\"failed\":[",
			t->conns[0], t->conns[1], t->conns[2]);
		for (size_t i = 0, n = 0; i < t->nfiles; i++) {
			if (!t->files[i]->code)
				continue;
			fprintf(stdout, "%s{\"name\":", n++ ? "," : "");
			json_string(stdout, t->files[i]->rel);
			fprintf(stdout, ",\"exit_code\":%d,\"reason\":", t->files[i]->code);
			json_string(stdout, t->files[i]->why ? t->files[i]->why : "failed");
			fputc('}', stdout);
		}
		fputc(']', stdout);
		if (t->ktls_note[0]) {
			fprintf(stdout, ",\"ktls_note\":");
			json_string(stdout, t->ktls_note);
		}
		if (t->abort) {
			fprintf(stdout, ",\"error\":");
			json_string(stdout, t->fatal);
		}
		fprintf(stdout, "}\n");
		fflush(stdout);
	} else if (!o->quiet) {
		char how[400] = "no connection made";

		if (conns[0])
			snprintf(how, sizeof(how), "%s %s, %s%s%s%s", t->url.plain ? "plaintext," : t->tls_version,
				 t->url.plain ? "no TLS" : t->cipher, conns, t->ktls_note[0] ? " (" : "",
				 t->ktls_note, t->ktls_note[0] ? ")" : "");
		log_info("%u file%s, %llu bytes (%s) in %.3f s, %.1f MB/s; %u skipped (unchanged), %u failed; %s",
			 t->done_files, t->done_files == 1 ? "" : "s", (unsigned long long)t->bytes,
			 human_bytes(t->bytes, human, sizeof(human)), secs, mbps, t->skipped, t->failed, how);
	}
	return code;
}

int tree_run(struct tree *t, double t0)
{
	unsigned n = t->o->parallel;
	pthread_t *th = calloc(n, sizeof(*th));
	bool on = !t->o->quiet && isatty(STDERR_FILENO), drawn = false;
	unsigned started = 0, left = 0;
	struct rlimit rl;
	double last = now_sec();

	if (!th)
		return EXIT_OTHER;
	/* Each connection holds about FDS_PER_CONN descriptors (socket, ring, part and state
	 * files, a splice pipe): more connections than the limit allows would only fail. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    n > MAX((rl.rlim_cur - MIN(rl.rlim_cur, FDS_SPARE)) / FDS_PER_CONN, 1)) {
		n = (unsigned)MAX((rl.rlim_cur - MIN(rl.rlim_cur, FDS_SPARE)) / FDS_PER_CONN, 1);
		if (!t->o->quiet)
			log_info("the open-file limit (ulimit -n %llu) allows %u connection%s, not %u",
				 (unsigned long long)rl.rlim_cur, n, n == 1 ? "" : "s", t->o->parallel);
	}
	if (n > t->est_tasks)
		n = t->est_tasks ? (unsigned)t->est_tasks : 1; /* no idle connections for a small tree */
	pthread_mutex_lock(&t->lock);
	for (; started < n; started++) {
		if (pthread_create(&th[started], NULL, worker, t))
			break;
		t->workers_alive++;
	}
	while (t->workers_alive > 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250000000;
		if (ts.tv_nsec >= 1000000000)
			ts.tv_sec++, ts.tv_nsec -= 1000000000;
		pthread_cond_timedwait(&t->gone, &t->lock, &ts);
		if (on && now_sec() - last >= 0.25) {
			last = now_sec();
			draw_progress(t, t0, &drawn);
		}
	}
	pthread_mutex_unlock(&t->lock);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
	if (drawn)
		fprintf(stderr, "\r\033[K");
	/* What nobody got to: one line for all of them, each in --json's "failed". */
	for (size_t i = 0; i < t->nfiles; i++) {
		struct tfile *f = t->files[i];

		if (f->finished || f->code)
			continue;
		f->code = t->abort ? t->fatal_code : EXIT_NETWORK;
		f->why = strdup(t->abort ? "not transferred: the transfer was stopped" :
				"not transferred: no connection could be made");
		f->finished = true;
		t->failed++;
		left++;
	}
	if (left)
		log_err("%u file%s not transferred%s", left, left == 1 ? "" : "s",
			t->abort ? "" : ": no connection could be made");
	return summary(t, now_sec() - t0);
}

void tree_free(struct tree *t)
{
	for (size_t i = 0; i < t->nfiles; i++) {
		struct tfile *f = t->files[i];

		if (f->fd >= 0)
			close(f->fd);
		if (f->state_fd >= 0)
			close(f->state_fd);
		free(f->done);
		free(f->why);
		free(f->rel);
		free(f);
	}
	free(t->files);
	free(t->q);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	pthread_cond_destroy(&t->gone);
}
