/* Running under a service manager without libsystemd.  Three small, stable protocols
 * (systemd documents them as interface promises, see sd_notify(3) "Notes" and
 * sd_listen_fds(3)), plus the --user privilege drop:
 *
 *   - notification: one AF_UNIX SOCK_DGRAM datagram per call to $NOTIFY_SOCKET, which is
 *     a file-system path or, with a leading '@', an abstract socket name;
 *   - watchdog: $WATCHDOG_USEC, meant for us when $WATCHDOG_PID is unset or our pid;
 *   - socket activation: $LISTEN_FDS descriptors from 3 on, $LISTEN_PID our pid,
 *     $LISTEN_FDNAMES their ':'-separated names. */
#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

/* systemd reads notifications into a buffer of PIPE_BUF bytes (NOTIFY_BUFFER_MAX) and drops
 * a datagram that does not fit whole, so a longer one could never work: refuse it here. */
#define NOTIFY_MAX 4096

#define SD_LISTEN_FDS_START 3

/* A decimal number with nothing around it; strtoull alone accepts " 12", "-1" and "". */
static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

/* $NOTIFY_SOCKET as a sockaddr.  Only the two forms sd_notify(3) promises; newer systemd
 * also knows "vsock:", which a guest-side kxfer has no use for. */
static int notify_address(const char *e, struct sockaddr_un *sa, socklen_t *salen)
{
	size_t len = strlen(e);

	if (e[0] != '/' && e[0] != '@')
		return -EAFNOSUPPORT;
	if (len < 2 || len >= sizeof(sa->sun_path))
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, e, len);
	if (e[0] == '@') {
		/* Abstract: a leading NUL, and the length says where the name ends (no
		 * terminating NUL: it would become part of the name). */
		sa->sun_path[0] = '\0';
		*salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	} else {
		*salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	}
	return 0;
}

int service_notify(const char *fmt, ...)
{
	const char *e = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t salen;
	char msg[NOTIFY_MAX + 1];
	struct iovec iov;
	struct msghdr mh;
	va_list ap;
	ssize_t sent;
	int fd, n, rc;

	if (!e || !*e)
		return 0;
	rc = notify_address(e, &sa, &salen);
	if (rc < 0)
		return rc;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if (n > NOTIFY_MAX)
		return -EMSGSIZE;

	/* A fresh socket per message: no state shared between threads, nothing to set up
	 * before a fork, and at one watchdog ping a second the cost does not matter.
	 * Close-on-exec so that nothing we run inherits it. */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;

	iov.iov_base = msg;
	iov.iov_len = (size_t)n;
	memset(&mh, 0, sizeof(mh));
	mh.msg_name = &sa;
	mh.msg_namelen = salen;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	/* One datagram carries the whole state, which is what makes "RELOADING=1\nSTATUS=..."
	 * atomic for the manager.  The kernel adds our credentials itself (the manager sets
	 * SO_PASSCRED), which is how it attributes the message to our pid (so any thread may
	 * send).  MSG_NOSIGNAL: whatever the far end is, a notification never raises SIGPIPE. */
	sent = sendmsg(fd, &mh, MSG_NOSIGNAL);
	if (sent < 0)
		rc = -errno;
	else if ((size_t)sent != iov.iov_len)
		rc = -EMSGSIZE;
	else
		rc = 1;
	close(fd);
	return rc;
}

uint64_t service_watchdog_usec(void)
{
	const char *pid = getenv("WATCHDOG_PID");
	uint64_t v;

	/* WATCHDOG_PID names the process the manager watches; a child that inherited the
	 * environment must not believe it is the one that has to ping. */
	if (pid && *pid) {
		if (parse_u64(pid, &v) < 0 || v != (uint64_t)getpid())
			return 0;
	}
	if (parse_u64(getenv("WATCHDOG_USEC"), &v) < 0)
		return 0;
	return v;
}

/* Checks that fd is what kxfer can serve on: a listening TCP socket.  systemd passes
 * whatever the socket unit says (a FIFO, a datagram socket, AF_UNIX...), and a mistake
 * there should be one clear line at start, not an accept() error in every worker. */
static int check_listener(int fd, const char *name, char *err, size_t errlen)
{
	int type, listening, domain, flags;
	socklen_t len;
	char what[96];

	if (*name)
		snprintf(what, sizeof(what), "fd %d ('%s')", fd, name);
	else
		snprintf(what, sizeof(what), "fd %d", fd);

	flags = fcntl(fd, F_GETFD);
	if (flags < 0) {
		snprintf(err, errlen, "LISTEN_FDS: %s is not open", what);
		return -EBADF;
	}
	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
		int e = errno;

		snprintf(err, errlen, "LISTEN_FDS: %s is not a socket: %s", what, strerror(e));
		return -e;
	}
	if (type != SOCK_STREAM) {
		snprintf(err, errlen, "LISTEN_FDS: %s is not a stream socket (SO_TYPE %d); "
			 "use ListenStream= in the socket unit", what, type);
		return -ESOCKTNOSUPPORT;
	}
	len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) {
		int e = errno;

		snprintf(err, errlen, "LISTEN_FDS: %s: SO_DOMAIN: %s", what, strerror(e));
		return -e;
	}
	if (domain != AF_INET && domain != AF_INET6) {
		snprintf(err, errlen, "LISTEN_FDS: %s is not an IPv4 or IPv6 socket (family %d%s)",
			 what, domain, domain == AF_UNIX ? ", AF_UNIX" : "");
		return -EAFNOSUPPORT;
	}
	len = sizeof(listening);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) {
		int e = errno;

		snprintf(err, errlen, "LISTEN_FDS: %s: SO_ACCEPTCONN: %s", what, strerror(e));
		return -e;
	}
	if (listening != 1) {
		/* Accept=yes in the socket unit would hand us one connected socket per
		 * instance; kxfer wants the listener itself. */
		snprintf(err, errlen, "LISTEN_FDS: %s is not listening (Accept=yes in the socket "
			 "unit? kxfer needs Accept=no)", what);
		return -EINVAL;
	}
	/* Inherited descriptors come without close-on-exec; nothing kxfer runs later should
	 * hold the listening port open. */
	if (!(flags & FD_CLOEXEC) && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
		int e = errno;

		snprintf(err, errlen, "LISTEN_FDS: %s: F_SETFD: %s", what, strerror(e));
		return -e;
	}
	return 0;
}

/* LISTEN_FDNAMES into out->name.  systemd gives exactly one name per descriptor (empty
 * ones included: "a::b"), so a different count means the variables do not belong together. */
static int split_names(const char *names, struct service_fds *out, char *err, size_t errlen)
{
	const char *p;
	unsigned i, count = 1;

	for (p = names; *p; p++)
		count += *p == ':';
	if (count != out->n) {
		snprintf(err, errlen, "LISTEN_FDNAMES '%s' has %u names for %u descriptors",
			 names, count, out->n);
		return -EINVAL;
	}
	for (i = 0, p = names; i < out->n; i++) {
		size_t len = strcspn(p, ":");

		if (len >= sizeof(out->name[i])) {
			snprintf(err, errlen, "LISTEN_FDNAMES: name %u is longer than %zu bytes",
				 i + 1, sizeof(out->name[i]) - 1);
			return -ENAMETOOLONG;
		}
		memcpy(out->name[i], p, len);
		out->name[i][len] = '\0';
		p += len + (p[len] == ':');
	}
	return 0;
}

int service_listen_fds(struct service_fds *out, char *err, size_t errlen)
{
	const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	uint64_t pid, n;
	unsigned i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	if (!pid_s || !fds_s)
		goto out;
	if (parse_u64(pid_s, &pid) < 0) {
		snprintf(err, errlen, "LISTEN_PID '%s' is not a process id", pid_s);
		rc = -EINVAL;
		goto out;
	}
	/* Not ours: an ancestor was activated and we inherited its environment.  The
	 * descriptors (if any are even open) belong to it. */
	if (pid != (uint64_t)getpid())
		goto out;
	if (parse_u64(fds_s, &n) < 0) {
		snprintf(err, errlen, "LISTEN_FDS '%s' is not a count", fds_s);
		rc = -EINVAL;
		goto out;
	}
	if (n > SERVICE_MAX_FDS) {
		snprintf(err, errlen, "LISTEN_FDS=%llu: kxfer takes at most %d sockets",
			 (unsigned long long)n, SERVICE_MAX_FDS);
		rc = -EMFILE;
		goto out;
	}
	out->n = (unsigned)n;
	if (names && out->n) {
		rc = split_names(names, out, err, errlen);
		if (rc < 0)
			goto fail;
	}
	for (i = 0; i < out->n; i++) {
		out->fd[i] = SD_LISTEN_FDS_START + (int)i;
		rc = check_listener(out->fd[i], out->name[i], err, errlen);
		if (rc < 0)
			goto fail;
	}
	rc = (int)out->n;
	goto out;

fail:
	/* The descriptors stay open: they are the manager's, and we are about to exit. */
	memset(out, 0, sizeof(*out));
out:
	/* Whatever happened, our children must not take these variables for theirs. */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return rc;
}

/* The passwd entry of NAME, or of the uid when NAME is all digits.  *buf is allocated
 * (getpwnam_r wants the strings' storage from us) and grows until the entry fits. */
static int lookup_user(const char *name, struct passwd *pw, char **buf, bool *found)
{
	long guess = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t cap = guess > 0 ? (size_t)guess : 16384;
	struct passwd *res = NULL;
	uint64_t uid;
	bool numeric = parse_u64(name, &uid) == 0;
	int rc;

	if (numeric && uid >= (uint64_t)(uid_t)-1)
		return -ERANGE;
	for (;;) {
		char *nb = realloc(*buf, cap);

		if (!nb)
			return -ENOMEM;
		*buf = nb;
		rc = numeric ? getpwuid_r((uid_t)uid, pw, *buf, cap, &res)
			     : getpwnam_r(name, pw, *buf, cap, &res);
		if (rc != ERANGE)
			break;
		if (cap > (1u << 20))
			return -ERANGE;
		cap *= 2;
	}
	/* POSIX lets "not found" be 0 with no result, or ENOENT/ESRCH/EBADF/EPERM. */
	if (rc && rc != ENOENT && rc != ESRCH && rc != EBADF && rc != EPERM)
		return -rc;
	*found = res != NULL;
	if (!res && numeric) {
		/* A bare uid with no passwd entry (containers, DynamicUser ranges without
		 * nss-systemd): the least privileged reading is a group of the same number
		 * and no supplementary groups at all. */
		memset(pw, 0, sizeof(*pw));
		pw->pw_uid = (uid_t)uid;
		pw->pw_gid = (gid_t)uid;
		*found = true;
		return 1;
	}
	return 0;
}

int service_drop_privileges(const char *user, char *err, size_t errlen)
{
	struct passwd pw;
	char *buf = NULL;
	bool found = false, was_root = geteuid() == 0;
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	int rc, bare;

	bare = lookup_user(user, &pw, &buf, &found);
	if (bare < 0) {
		rc = bare;
		snprintf(err, errlen, "cannot look the user up: %s", strerror(-rc));
		goto out;
	}
	if (!found) {
		snprintf(err, errlen, "no such user");
		rc = -ENOENT;
		goto out;
	}
	/* Already that user (a unit with User= and --user as well): nothing to give up. */
	if (!was_root && getuid() == pw.pw_uid && geteuid() == pw.pw_uid) {
		rc = 0;
		goto out;
	}
	if (!was_root) {
		snprintf(err, errlen, "only root can change user (running as uid %u)",
			 (unsigned)geteuid());
		rc = -EPERM;
		goto out;
	}
	/* Groups first, while we still have the privilege to change them; left alone,
	 * root's supplementary group list (group 0 among them) would survive setuid. */
	if (bare ? setgroups(0, NULL) < 0 : initgroups(pw.pw_name, pw.pw_gid) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", bare ? "setgroups" : "initgroups", strerror(-rc));
		goto out;
	}
	/* setres[ug]id names real, effective and saved ids at once, so no saved id of 0 is
	 * left behind whatever the starting ids were (setuid() only sets all three when the
	 * effective uid is 0).  Group before user: after setuid we could no longer setgid. */
	if (setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid) < 0) {
		rc = -errno;
		snprintf(err, errlen, "setgid(%u): %s", (unsigned)pw.pw_gid, strerror(-rc));
		goto out;
	}
	if (setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid) < 0) {
		rc = -errno;
		snprintf(err, errlen, "setuid(%u): %s", (unsigned)pw.pw_uid, strerror(-rc));
		goto out;
	}
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
	    ru != pw.pw_uid || eu != pw.pw_uid || su != pw.pw_uid ||
	    rg != pw.pw_gid || eg != pw.pw_gid || sg != pw.pw_gid) {
		snprintf(err, errlen, "the ids did not change as asked");
		rc = -EPERM;
		goto out;
	}
	/* The point of --user is that a compromised worker cannot become root again: prove
	 * it (a kernel or an LSM with odd rules, securebits...).  Dropping to root itself is
	 * allowed, and then of course this would succeed; so would setgid(0) for a user whose
	 * primary group is 0. */
	if (pw.pw_uid != 0 && (setuid(0) == 0 || (pw.pw_gid != 0 && setgid(0) == 0))) {
		snprintf(err, errlen, "root could be regained after dropping it");
		rc = -EPERM;
		goto out;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}
