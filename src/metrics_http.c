/* serve --metrics: a small plaintext HTTP/1.1 listener of its own for Prometheus scrapes.
 *
 * One thread, one connection at a time, each closed after one answer and dropped 5 s after
 * it was accepted whatever it does: a scrape is one small request every few seconds, so
 * serialising them costs nothing, and a client that stalls or sends garbage can hold the
 * listener 5 s at most and never touches the workers.  The thread reads the workers'
 * counters with relaxed loads (metrics_render); it never writes anything they read. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http.h"
#include "metrics.h"
#include "util.h"

#define CLIENT_LIMIT_S 5.0
#define EXPOSITION_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_server {
	int listen_fd;
	int stop_fd;                /* eventfd: readable once metrics_server_stop wants the thread gone */
	const struct metrics *m;
	pthread_t thread;
};

static const char index_page[] =
	"kxfer serve metrics: GET /metrics (Prometheus text format 0.0.4)\n";

/* SO_RCVTIMEO/SO_SNDTIMEO to what is left of the client's 5 s; false once nothing is. */
static bool set_timeouts(int fd, double deadline)
{
	double left = deadline - now_sec();
	struct timeval tv;

	if (left <= 0)
		return false;
	tv.tv_sec = (time_t)left;
	tv.tv_usec = (suseconds_t)((left - (double)tv.tv_sec) * 1e6);
	if (!tv.tv_sec && !tv.tv_usec)
		tv.tv_usec = 1;            /* zero would mean "no timeout" */
	return !setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) &&
	       !setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int send_all(int fd, const char *p, size_t n, double deadline)
{
	while (n) {
		ssize_t k;

		if (!set_timeouts(fd, deadline))
			return -ETIMEDOUT;
		k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* One answer: head (Connection: close always) and, unless HEAD, the body. */
static int answer(int fd, int status, const char *type, const char *allow, const char *body,
		  size_t len, bool head_only, double deadline)
{
	struct http_reply r = {
		.status = status,
		.content_length = (int64_t)len,
		.content_type = type,
		.range_start = -1, .range_end = -1, .range_total = -1,
		.close = true,
		.allow = allow,
	};
	char head[512];
	int n = http_format_reply(head, sizeof(head), &r), rc;

	if (n < 0)
		return n;
	rc = send_all(fd, head, (size_t)n, deadline);
	if (!rc && !head_only)
		rc = send_all(fd, body, len, deadline);
	return rc;
}

static int error_page(int fd, int status, const char *allow, bool head_only, double deadline)
{
	char body[96];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, http_reason(status));

	return answer(fd, status, "text/plain; charset=utf-8", allow, body, (size_t)n, head_only,
		      deadline);
}

/* The target without its query: "/metrics?x=1" is /metrics (Prometheus adds none, but
 * params in a scrape config do). */
static bool target_is(const char *target, const char *path)
{
	size_t n = strlen(path);

	return !strncmp(target, path, n) && (target[n] == 0 || target[n] == '?');
}

static int route(int fd, const struct http_request *req, const struct metrics *m,
		 double deadline)
{
	bool head_only = req->method == HTTP_HEAD;
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (req->method != HTTP_GET && req->method != HTTP_HEAD)
		return error_page(fd, 405, "GET, HEAD", false, deadline);
	if (target_is(req->target, "/"))
		return answer(fd, 200, "text/plain; charset=utf-8", NULL, index_page,
			      sizeof(index_page) - 1, head_only, deadline);
	if (!target_is(req->target, "/metrics"))
		return error_page(fd, 404, NULL, head_only, deadline);
	/* HEAD renders too: its Content-Length must be the length GET would send. */
	rc = metrics_render(m, &text, &len);
	if (rc)
		return error_page(fd, 500, NULL, head_only, deadline);
	rc = answer(fd, 200, EXPOSITION_TYPE, NULL, text, len, head_only, deadline);
	free(text);
	return rc;
}

/* Until fd has bytes (0), its time is up (-ETIMEDOUT) or stop was asked (-ECANCELED):
 * stop never waits for a slow client. */
static int wait_readable(const struct metrics_server *s, int fd, double deadline)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
				       { .fd = s->stop_fd, .events = POLLIN } };
		double left = deadline - now_sec();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(p, 2, (int)(left * 1000) + 1);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && p[1].revents)
			return -ECANCELED;
		if (n > 0)
			return 0;
	}
}

/* Reads one request head and answers it.  0, or -errno (the connection is dropped). */
static int serve_client(const struct metrics_server *s, int fd)
{
	double deadline = now_sec() + CLIENT_LIMIT_S;
	char buf[HTTP_HEAD_MAX + 1];
	struct http_request req;
	size_t len = 0;
	int rc = 0;

	/* http_parse_request leaves buf alone while it answers "need more", so the head is
	 * parsed again from the start after every read. */
	while (rc == 0) {
		ssize_t k;

		if (len == sizeof(buf))
			return error_page(fd, 431, NULL, false, deadline);
		rc = wait_readable(s, fd, deadline);
		if (rc)
			return rc;
		if (!set_timeouts(fd, deadline))
			return -ETIMEDOUT;
		k = recv(fd, buf + len, sizeof(buf) - len, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (k == 0)             /* half-closed mid-head, or a bare connect (a probe) */
			return len ? error_page(fd, 400, NULL, false, deadline) : 0;
		len += (size_t)k;
		rc = http_parse_request(buf, len, &req);
	}
	if (rc < 0)
		return error_page(fd, rc == -431 || rc == -505 ? -rc : 400, NULL, false, deadline);
	return route(fd, &req, s->m, deadline);
}

/* Half-close, then discard what is already queued: closing with unread bytes would send
 * a reset that can destroy the answer before the client has read it.  Never waits. */
static void finish_client(int fd)
{
	char sink[4096];
	int n = 16;

	shutdown(fd, SHUT_WR);
	while (n-- && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
	close(fd);
}

static void *server_main(void *arg)
{
	struct metrics_server *s = arg;

	for (;;) {
		struct pollfd p[2] = { { .fd = s->listen_fd, .events = POLLIN },
				       { .fd = s->stop_fd, .events = POLLIN } };
		int fd, rc;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err("metrics: poll: %s", strerror(errno));
			break;
		}
		if (p[1].revents)
			break;
		if (!p[0].revents)
			continue;
		fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* The backlog stays readable: pause instead of spinning on it. */
				log_err("metrics: accept: %s", strerror(errno));
				poll(&p[1], 1, 100);
			}
			continue;          /* EAGAIN, ECONNABORTED, EINTR: the next one */
		}
		rc = serve_client(s, fd);
		if (rc)
			log_debug("metrics: client dropped: %s", strerror(-rc));
		finish_client(fd);
	}
	return NULL;
}

int metrics_server_start(int listen_fd, const struct metrics *m, struct metrics_server **out)
{
	struct metrics_server *s;
	sigset_t all, old;
	int flags, rc;

	/* Non-blocking, so that a connection reset between poll and accept costs an EAGAIN
	 * rather than a thread stuck in accept that stop could not wake. */
	flags = fcntl(listen_fd, F_GETFL);
	if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->listen_fd = listen_fd;
	s->m = m;
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (s->stop_fd < 0) {
		rc = -errno;
		goto err_free;
	}
	/* Every signal blocked in the thread: SIGINT, SIGTERM and SIGHUP stay with the
	 * threads serve waits for them in. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&s->thread, NULL, server_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		goto err_eventfd;
	*out = s;
	return 0;

err_eventfd:
	close(s->stop_fd);
err_free:
	free(s);
	return rc;
}

void metrics_server_stop(struct metrics_server *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	/* An eventfd write cannot fail short of an overflow at 2^64 - 1. */
	if (write(s->stop_fd, &one, sizeof(one)) != sizeof(one))
		log_err("metrics: stop: %s", strerror(errno));
	pthread_join(s->thread, NULL);
	close(s->stop_fd);
	close(s->listen_fd);
	free(s);
}
