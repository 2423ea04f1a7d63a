/* One io_uring event loop per worker thread: accept, timers, and completion dispatch.
 * Every submission carries a pointer to a struct op as its user_data; the op's kind
 * decides which handler runs. */
#ifndef KXFER_LOOP_H
#define KXFER_LOOP_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include "serve.h"

enum op_kind {
	OP_ACCEPT, OP_TIMER, OP_WAKE, OP_SIGNAL, /* the worker's own */
	OP_POLL, OP_FILE_READ, OP_FILE_WRITE, OP_FSYNC, OP_SPLICE, OP_DIGEST, /* a connection's */
};

struct op {
	uint8_t kind;
	uint8_t idx;     /* which buffer, for file I/O */
	bool busy;       /* submitted, completion not seen yet */
	void *owner;     /* struct worker or struct conn */
};

struct conn;

struct worker {
	struct io_uring ring;
	const struct serve_config *cfg;
	struct serve_shared *shared;
	unsigned id;
	struct metrics_worker *m;  /* this worker's counters (it is their only writer) */
	int listen_fd;             /* not ours to close: workers may share a passed socket */
	int wake_fd;
	uint64_t wake_value;
	int signal_fd;           /* worker 0 only: SIGINT, SIGTERM, SIGHUP, SIGUSR1 as a signalfd */
	struct signalfd_siginfo sig;
	struct op op_accept, op_timer, op_wake, op_signal;
	struct __kernel_timespec tick;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	bool accept_paused;
	bool stopping;
	double stop_deadline;
	struct conn *conns;      /* all open connections of this worker */
	unsigned nconns;
};

int worker_init(struct worker *w, unsigned id, int listen_fd, const struct serve_config *cfg,
		struct serve_shared *shared);
void worker_run(struct worker *w);
void worker_wake(struct worker *w);
void worker_destroy(struct worker *w);

/* A submission queue entry, flushing the queue first when it is full. */
struct io_uring_sqe *loop_sqe(struct worker *w);
/* Tags sqe with op and marks it in flight. */
void loop_arm(struct io_uring_sqe *sqe, struct op *op);

#endif
