/* The per-thread io_uring event loop: accepting connections, a one-second tick for
 * timeouts, a wake-up eventfd for shutdown, and dispatch of every completion to the
 * handler of its operation. */
#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "accesslog.h"
#include "conn.h"
#include "service.h"
#include "util.h"

#define RING_ENTRIES 512

struct io_uring_sqe *loop_sqe(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	while (!sqe) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

void loop_arm(struct io_uring_sqe *sqe, struct op *op)
{
	op->busy = true;
	io_uring_sqe_set_data(sqe, op);
}

static void arm_accept(struct worker *w)
{
	struct io_uring_sqe *sqe;

	if (w->op_accept.busy || w->stopping || w->listen_fd < 0)
		return;
	w->peer_len = sizeof(w->peer);
	sqe = loop_sqe(w);
	io_uring_prep_accept(sqe, w->listen_fd, (struct sockaddr *)&w->peer, &w->peer_len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
	loop_arm(sqe, &w->op_accept);
	w->accept_paused = false;
}

static void arm_timer(struct worker *w)
{
	struct io_uring_sqe *sqe = loop_sqe(w);

	io_uring_prep_timeout(sqe, &w->tick, 0, 0);
	loop_arm(sqe, &w->op_timer);
}

static void arm_wake(struct worker *w)
{
	struct io_uring_sqe *sqe = loop_sqe(w);

	io_uring_prep_read(sqe, w->wake_fd, &w->wake_value, sizeof(w->wake_value), 0);
	loop_arm(sqe, &w->op_wake);
}

static void arm_signal(struct worker *w)
{
	struct io_uring_sqe *sqe = loop_sqe(w);

	io_uring_prep_read(sqe, w->signal_fd, &w->sig, sizeof(w->sig), 0);
	loop_arm(sqe, &w->op_signal);
}

/* SIGINT/SIGTERM: every worker stops accepting and finishes its transfers; a second
 * signal ends the process at once.  SIGHUP reloads the credentials (reload.c), SIGUSR1
 * reopens the access log; both run here, on worker 0, between two completions. */
static void on_signal(struct worker *w, int res)
{
	uint64_t one = 1;
	int signo = (int)w->sig.ssi_signo;

	if (res != sizeof(w->sig)) {
		arm_signal(w);
		return;
	}
	if (signo == SIGHUP) {
		serve_reload(w->shared);
	} else if (signo == SIGUSR1) {
		alog_reopen();
	} else if (atomic_exchange(&w->shared->stopping, true)) {
		log_err("second signal: exiting now");
		_exit(1);
	} else {
		log_info("%s: finishing transfers in flight, then exiting", strsignal(signo));
		service_notify("STOPPING=1\nSTATUS=finishing %u transfer%s in flight",
			       atomic_load(&w->shared->conns), atomic_load(&w->shared->conns) == 1 ? "" : "s");
		for (unsigned i = 0; i < w->shared->nworkers; i++)
			if (write(w->shared->wake_fds[i], &one, sizeof(one)) < 0)
				log_debug("wake worker %u: %s", i, strerror(errno));
	}
	arm_signal(w);
}

/* Worker 0 pets the service manager's watchdog only while every worker's loop is turning:
 * a worker stuck for half the interval lets it lapse, and systemd restarts the service. */
static void pet_watchdog(struct worker *w, double now)
{
	double limit = (double)w->shared->watchdog_usec / 2e6;

	if (w->id != 0 || !w->shared->watchdog_usec)
		return;
	for (unsigned i = 0; i < w->shared->nworkers; i++)
		if (now - atomic_load(&w->shared->heartbeat[i]) > limit)
			return;
	service_notify("WATCHDOG=1");
}

/* Above --max-conns the surplus still gets a polite 503 after its handshake; past this
 * many more, accepting pauses until connections close (the kernel backlog holds them). */
#define REFUSE_SLACK 64

static void on_accept(struct worker *w, int res)
{
	unsigned open;

	if (res < 0) {
		if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
			log_err("accept: %s; pausing accepts for a second", strerror(-res));
			w->accept_paused = true; /* the tick re-arms: never spin on EMFILE */
			return;
		}
		if (res != -ECANCELED && res != -EINTR && res != -ECONNABORTED)
			log_debug("accept: %s", strerror(-res));
		arm_accept(w);
		return;
	}
	open = atomic_fetch_add(&w->shared->conns, 1) + 1;
	if (!conn_new(w, res, (struct sockaddr *)&w->peer, open > w->cfg->max_conns)) {
		atomic_fetch_sub(&w->shared->conns, 1);
		close(res);
	}
	if (open >= w->cfg->max_conns + REFUSE_SLACK)
		w->accept_paused = true;
	else
		arm_accept(w);
}

static void begin_stop(struct worker *w)
{
	struct io_uring_sqe *sqe;
	struct conn *c, *next;

	if (w->stopping)
		return;
	w->stopping = true;
	w->stop_deadline = now_sec() + w->cfg->stop_grace;
	if (w->op_accept.busy) {
		sqe = loop_sqe(w);
		io_uring_prep_cancel(sqe, &w->op_accept, 0);
		io_uring_sqe_set_data(sqe, NULL);
	}
	/* Idle keep-alive connections go now; transfers in flight run on. */
	for (c = w->conns; c; c = next) {
		next = c->next;
		if (c->state == CS_READ_HEAD && c->head_len == 0)
			conn_abort(c);
	}
}

static void on_tick(struct worker *w)
{
	double now = now_sec();
	struct conn *c, *next;

	atomic_store(&w->shared->heartbeat[w->id], now);
	pet_watchdog(w, now);
	if (atomic_load(&w->shared->stopping))
		begin_stop(w);
	for (c = w->conns; c; c = next) {
		next = c->next;
		conn_count_bytes(c);
		c->timed_out = now >= c->deadline && !conn_quiet_progress(c);
		if (c->timed_out || (w->stopping && now >= w->stop_deadline))
			conn_abort(c);
	}
	if (w->accept_paused && atomic_load(&w->shared->conns) < w->cfg->max_conns + REFUSE_SLACK)
		arm_accept(w);
	arm_timer(w);
}

static void dispatch(struct worker *w, struct io_uring_cqe *cqe)
{
	struct op *op = io_uring_cqe_get_data(cqe);

	if (!op)
		return; /* a cancel request's own completion */
	op->busy = false;
	switch (op->kind) {
	case OP_ACCEPT:
		on_accept(w, cqe->res);
		break;
	case OP_TIMER:
		on_tick(w);
		break;
	case OP_WAKE:
		begin_stop(w);
		break;
	case OP_SIGNAL:
		on_signal(w, cqe->res);
		break;
	default: {
		unsigned before = w->nconns;

		conn_complete(op->owner, op, cqe->res);
		/* A connection closed: accepting, paused for the refusal slack (or for EMFILE, now
		 * that a descriptor is free), resumes now rather than at the next tick, so the
		 * surplus waiting in the backlog gets its 503 at once, not 64 a second. */
		if (w->nconns < before && w->accept_paused &&
		    atomic_load(&w->shared->conns) < w->cfg->max_conns + REFUSE_SLACK)
			arm_accept(w);
		break;
	}
	}
}

int worker_init(struct worker *w, unsigned id, int listen_fd, const struct serve_config *cfg,
		struct serve_shared *shared)
{
	int rc;

	memset(w, 0, sizeof(*w));
	w->id = id;
	w->cfg = cfg;
	w->shared = shared;
	w->m = &shared->metrics.workers[id];
	w->listen_fd = listen_fd;
	w->tick.tv_sec = 1;
	w->op_accept = (struct op){ .kind = OP_ACCEPT, .owner = w };
	w->op_timer = (struct op){ .kind = OP_TIMER, .owner = w };
	w->op_wake = (struct op){ .kind = OP_WAKE, .owner = w };
	w->op_signal = (struct op){ .kind = OP_SIGNAL, .owner = w };
	w->signal_fd = -1;
	w->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (w->wake_fd < 0)
		return -errno;
	rc = io_uring_queue_init(RING_ENTRIES, &w->ring, 0);
	if (rc < 0) {
		close(w->wake_fd);
		return rc;
	}
	return 0;
}

void worker_run(struct worker *w)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen;

	arm_accept(w);
	arm_timer(w);
	arm_wake(w);
	if (w->signal_fd >= 0)
		arm_signal(w);
	io_uring_submit(&w->ring);
	atomic_fetch_add(&w->shared->running, 1); /* accepting: serve_run can say READY=1 */
	while (!w->stopping || w->nconns > 0 || w->op_accept.busy) {
		int rc = io_uring_submit_and_wait(&w->ring, 1);

		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			log_err("worker %u: io_uring_submit_and_wait: %s", w->id, strerror(-rc));
			break;
		}
		seen = 0;
		io_uring_for_each_cqe(&w->ring, head, cqe) {
			dispatch(w, cqe);
			seen++;
		}
		io_uring_cq_advance(&w->ring, seen);
	}
}

void worker_wake(struct worker *w)
{
	uint64_t one = 1;

	if (write(w->wake_fd, &one, sizeof(one)) < 0)
		log_debug("worker %u: wake: %s", w->id, strerror(errno));
}

void worker_destroy(struct worker *w)
{
	io_uring_queue_exit(&w->ring);
	close(w->wake_fd);
}
