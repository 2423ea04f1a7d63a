/* mmap'ed file windows and the SIGBUS guard that lets a read of one survive the file
 * shrinking under it (include/filemap.h). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filemap.h"

/* This thread's guard: the mapping [lo, hi) it covers (hi 0: no guard) and whether a fault
 * was caught in it.  initial-exec, so that the handler never reaches __tls_get_addr, which
 * may allocate, even if this file ends up in a shared object. */
#define GUARD_TLS static __thread __attribute__((tls_model("initial-exec")))
GUARD_TLS uintptr_t guard_lo, guard_hi;
GUARD_TLS volatile sig_atomic_t guard_fault;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_err;
static size_t page_size;
static struct sigaction prev_bus;

static void sigbus_handler(int sig, siginfo_t *si, void *uc)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	uintptr_t a = (uintptr_t)si->si_addr, pg;
	int saved = errno;

	/* si_code > 0: raised by the kernel for an access, so si_addr is an address (kill(2)
	 * puts a pid there).  The faulting page is past end of file, and so is every page after
	 * it: zero pages in place of all of them, one fault rather than one per page.  mmap is
	 * not on POSIX's async-signal-safe list, but glibc's is the bare system call. */
	if (si->si_code > 0 && guard_hi && a >= guard_lo && a < guard_hi) {
		pg = a & ~(uintptr_t)(page_size - 1);
		if (mmap((void *)pg, guard_hi - pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			 -1, 0) != MAP_FAILED) {
			guard_fault = 1;
			errno = saved;
			return;
		}
		/* No memory for the replacement: the fault stays fatal. */
	}
	errno = saved;

	if (prev_bus.sa_handler != SIG_DFL && prev_bus.sa_handler != SIG_IGN) {
		if (prev_bus.sa_flags & SA_SIGINFO)
			prev_bus.sa_sigaction(sig, si, uc);
		else
			prev_bus.sa_handler(sig);
		return;
	}
	/* The default action.  A fault repeats on return and kills (even where SIGBUS was
	 * ignored: the kernel never lets a fault be).  A SIGBUS sent by kill(2), raised again,
	 * stays pending until the return (it is blocked in here) and kills then. */
	if (si->si_code > 0 || prev_bus.sa_handler == SIG_DFL)
		sigaction(SIGBUS, &dfl, NULL);
	if (si->si_code <= 0 && prev_bus.sa_handler == SIG_DFL)
		raise(SIGBUS);
}

static void init_once_fn(void)
{
	struct sigaction sa = { .sa_sigaction = sigbus_handler }, cur;
	long ps = sysconf(_SC_PAGESIZE);

	if (ps <= 0 || (ps & (ps - 1))) {
		init_err = -EINVAL;
		return;
	}
	page_size = (size_t)ps;
	/* No SA_ONSTACK: the fault is a load in ordinary code, never a stack overflow, so the
	 * thread's own stack has room.  SA_RESTART: a SIGBUS sent by kill(2) may interrupt a
	 * system call on its way to a previous handler, which signal(3) gave SA_RESTART. */
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &prev_bus) || sigaction(SIGBUS, NULL, &cur)) {
		init_err = -errno;
		return;
	}
	/* ASan with handle_sigbus=2 (or allow_user_segv_handler=0) answers 0 and keeps its own
	 * handler: no guard then, rather than a guard that kills. */
	if (!(cur.sa_flags & SA_SIGINFO) || cur.sa_sigaction != sigbus_handler)
		init_err = -ENOTSUP;
}

int filemap_init(void)
{
	int err = pthread_once(&init_once, init_once_fn);

	return err ? -err : init_err;
}

void filemap_unmap(struct filemap *m)
{
	if (m->base)
		munmap(m->base, m->map_len);
	m->data = NULL;
	m->off = 0;
	m->len = 0;
	m->base = NULL;
	m->map_len = 0;
	m->fd = -1;
}

int filemap_map(struct filemap *m, int fd, uint64_t off, size_t len)
{
	uint64_t aoff;
	size_t delta, map_len;
	void *p;
	int err;

	filemap_unmap(m);
	err = filemap_init();
	if (err)
		return err;
	if (!len)
		return -EINVAL;
	aoff = off & ~(uint64_t)(page_size - 1);
	delta = (size_t)(off - aoff);
	if (len > SIZE_MAX - delta - (page_size - 1))
		return -ENOMEM;
	if (aoff > (uint64_t)INT64_MAX)
		return -EOVERFLOW;
	map_len = (delta + len + page_size - 1) & ~(page_size - 1);

	/* No MAP_POPULATE: on a cached file it measured slower (ext4 with large folios: 14.7
	 * against 25 GB/s; tmpfs with small ones: 8.1 against 8.7), the faults are that cheap. */
	p = mmap(NULL, map_len, PROT_READ, MAP_SHARED, fd, (off_t)aoff);
	if (p == MAP_FAILED)
		return -errno;
	/* Read-ahead and reclaim advice only: nothing to undo if it fails. */
	madvise(p, map_len, MADV_SEQUENTIAL);

	m->base = p;
	m->map_len = map_len;
	m->fd = fd;
	m->off = off;
	m->len = len;
	m->data = (const uint8_t *)p + delta;
	return 0;
}

void filemap_guard_begin(const struct filemap *m)
{
	guard_fault = 0;
	guard_lo = (uintptr_t)m->base;
	guard_hi = m->base ? guard_lo + m->map_len : 0;
	/* The caller's reads of m->data stay after this point, even if it gets inlined. */
	atomic_signal_fence(memory_order_seq_cst);
}

int filemap_guard_end(const struct filemap *m, uint64_t end)
{
	struct stat st;
	int fault;

	atomic_signal_fence(memory_order_seq_cst);
	guard_hi = 0;
	guard_lo = 0;
	fault = guard_fault;
	guard_fault = 0;
	if (fault)
		return -ENODATA;
	/* A shrink inside the last page raises nothing: the kernel zeroes the tail of that page
	 * on truncate, and only the size can tell. */
	if (fstat(m->fd, &st))
		return -errno;
	return (uint64_t)st.st_size >= end ? 0 : -ENODATA;
}
