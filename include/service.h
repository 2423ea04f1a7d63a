/* Running under a service manager, without libsystemd: readiness and state notification
 * (the sd_notify(3) datagram protocol), the watchdog, socket activation (the
 * sd_listen_fds(3) protocol), and dropping root after binding (--user). */
#ifndef KXFER_SERVICE_H
#define KXFER_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERVICE_MAX_FDS 16

struct service_fds {
	int fd[SERVICE_MAX_FDS];
	char name[SERVICE_MAX_FDS][64];  /* LISTEN_FDNAMES, "" when not given */
	unsigned n;
};

/* The sockets the service manager passed: LISTEN_FDS descriptors from 3 on, when LISTEN_PID
 * is this process.  Each must be a listening SOCK_STREAM socket of AF_INET or AF_INET6;
 * each is made close-on-exec, and LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES are removed
 * from the environment.  Returns how many (0: none passed), or -errno with err saying
 * which descriptor is wrong and why (-EMFILE: more than SERVICE_MAX_FDS). */
int service_listen_fds(struct service_fds *out, char *err, size_t errlen);

/* Sends one notification ("READY=1", "STOPPING=1", "STATUS=...", several separated by
 * newlines) to $NOTIFY_SOCKET: a path, or an abstract socket when it starts with '@'.
 * 0 when NOTIFY_SOCKET is not set, 1 when sent, -errno when it cannot be. */
int service_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval the manager asked for (WATCHDOG_USEC, when WATCHDOG_PID is unset or
 * this process), in microseconds; 0 when none.  Send "WATCHDOG=1" at least twice as often. */
uint64_t service_watchdog_usec(void);

/* Becomes user NAME (a name or a numeric uid) for good: its supplementary groups, its
 * primary group, then its uid, and checks that root cannot be regained.  Call after
 * binding and after reading the key, before starting threads.  0, or -errno with err
 * saying what failed ("no such user", "setuid: ..."). */
int service_drop_privileges(const char *user, char *err, size_t errlen);

#endif
