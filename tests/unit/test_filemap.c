/* Unit tests for src/filemap.c: windows onto files in a temporary directory, read under the
 * SIGBUS guard while the file shrinks or grows; faults outside a guard still kill. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "filemap.h"
#include "unit.h"

#define MIB (1u << 20)

static char dir[] = "/tmp/kxfer-unit-filemap.XXXXXX";
static __thread volatile uint64_t sink; /* per thread: two threads touch at once */

static uint8_t pat(uint64_t i)
{
	return (uint8_t)(i ^ (i >> 8) ^ (i >> 16) ^ 0x5a);
}

/* dir/name with size bytes of pat(); returns a read-only fd or -1. */
static int make_file(const char *name, size_t size, char *path, size_t cap)
{
	uint8_t buf[8192];
	size_t done = 0, i, n;
	int fd;

	snprintf(path, cap, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	while (done < size) {
		n = size - done < sizeof(buf) ? size - done : sizeof(buf);
		for (i = 0; i < n; i++)
			buf[i] = pat(done + i);
		if (write(fd, buf, n) != (ssize_t)n) {
			close(fd);
			return -1;
		}
		done += n;
	}
	close(fd);
	return open(path, O_RDONLY);
}

/* The first n bytes of m->data equal the file's from m->off. */
static int bytes_ok(const struct filemap *m, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (m->data[i] != pat(m->off + i))
			return 0;
	return 1;
}

/* Every byte of the window, through a volatile pointer so that each one is loaded. */
static void touch_all(const struct filemap *m)
{
	const volatile uint8_t *p = m->data;
	uint64_t s = 0;
	size_t i;

	for (i = 0; i < m->len; i++)
		s += p[i];
	sink = s;
}

static void test_plain(void)
{
	struct filemap m = { 0 };
	char path[PATH_MAX];
	int fd = make_file("plain", MIB, path, sizeof(path)), ok;

	CHECK_INT("init", filemap_init(), 0);
	CHECK_INT("init again", filemap_init(), 0);
	CHECK_INT("map 1 MiB", filemap_map(&m, fd, 0, MIB), 0);
	CHECK("map 1 MiB: off, len", m.data && m.off == 0 && m.len == MIB);
	filemap_guard_begin(&m);
	ok = m.data && bytes_ok(&m, m.len);
	CHECK_INT("1 MiB: guard_end", filemap_guard_end(&m, m.off + m.len), 0);
	CHECK("1 MiB: bytes equal the file", ok);

	/* Mapping again unmaps the first window. */
	CHECK_INT("map again at 512 KiB", filemap_map(&m, fd, MIB / 2, MIB / 2), 0);
	filemap_guard_begin(&m);
	ok = bytes_ok(&m, m.len);
	CHECK_INT("map again: guard_end", filemap_guard_end(&m, m.off + m.len), 0);
	CHECK("map again: bytes", ok);
	filemap_unmap(&m);
	CHECK("unmap: data NULL", !m.data && !m.len);
	filemap_unmap(&m);

	CHECK_INT("map len 0: -EINVAL", filemap_map(&m, fd, 0, 0), -EINVAL);
	CHECK_INT("map bad fd: -EBADF", filemap_map(&m, -1, 0, 4096), -EBADF);
	CHECK("failed map: data NULL", !m.data);
	close(fd);
	unlink(path);
}

static void test_shrink(void)
{
	struct filemap m = { 0 };
	char path[PATH_MAX];
	int fd = make_file("shrink", MIB, path, sizeof(path)), ok;

	CHECK_INT("shrink: map 1 MiB", filemap_map(&m, fd, 0, MIB), 0);
	CHECK_INT("shrink: truncate to 100 KiB", truncate(path, 100 << 10), 0);
	filemap_guard_begin(&m);
	touch_all(&m);
	ok = bytes_ok(&m, 100 << 10);
	CHECK_INT("shrink: guard_end -ENODATA", filemap_guard_end(&m, m.off + m.len), -ENODATA);
	CHECK("shrink: the bytes still in the file read right", ok);

	/* Mapped again, the part still there reads clean. */
	CHECK_INT("shrink: map again", filemap_map(&m, fd, 0, MIB), 0);
	filemap_guard_begin(&m);
	ok = bytes_ok(&m, 100 << 10);
	CHECK_INT("shrink: first 100 KiB again: guard_end 0", filemap_guard_end(&m, 100 << 10), 0);
	CHECK("shrink: first 100 KiB again: bytes", ok);
	filemap_unmap(&m);
	close(fd);
	unlink(path);
}

static void test_shrink_last_page(void)
{
	struct filemap m = { 0 };
	char path[PATH_MAX];
	int fd = make_file("lastpage", 10000, path, sizeof(path)), ok;

	CHECK_INT("last page: map 10000", filemap_map(&m, fd, 0, 10000), 0);
	CHECK_INT("last page: truncate to 9000", truncate(path, 9000), 0);
	filemap_guard_begin(&m);
	touch_all(&m);
	ok = bytes_ok(&m, 9000) && m.data[9500] == 0;
	CHECK_INT("last page: guard_end(10000) -ENODATA", filemap_guard_end(&m, 10000), -ENODATA);
	CHECK("last page: 9000 bytes right, zeros after", ok);
	filemap_guard_begin(&m);
	ok = bytes_ok(&m, 9000);
	CHECK_INT("last page: guard_end(9000) 0", filemap_guard_end(&m, 9000), 0);
	CHECK("last page: 9000 bytes again", ok);
	filemap_unmap(&m);
	close(fd);
	unlink(path);
}

static void test_grow(void)
{
	struct filemap m = { 0 };
	char path[PATH_MAX];
	int fd = make_file("grow", MIB, path, sizeof(path)), ok;

	CHECK_INT("grow: map 1 MiB", filemap_map(&m, fd, 0, MIB), 0);
	CHECK_INT("grow: extend to 2 MiB", truncate(path, 2 * MIB), 0);
	filemap_guard_begin(&m);
	ok = bytes_ok(&m, m.len);
	CHECK_INT("grow: guard_end 0", filemap_guard_end(&m, m.off + m.len), 0);
	CHECK("grow: bytes", ok);

	/* A window past end of file that the file grows into: no fault, zeros from the hole. */
	CHECK_INT("grow: truncate back to 1 MiB", truncate(path, MIB), 0);
	CHECK_INT("grow: map 2 MiB of a 1 MiB file", filemap_map(&m, fd, 0, 2 * MIB), 0);
	CHECK_INT("grow: extend to 2 MiB again", truncate(path, 2 * MIB), 0);
	filemap_guard_begin(&m);
	touch_all(&m);
	ok = bytes_ok(&m, MIB) && m.data[MIB] == 0 && m.data[2 * MIB - 1] == 0;
	CHECK_INT("grow into the window: guard_end 0", filemap_guard_end(&m, 2 * MIB), 0);
	CHECK("grow into the window: bytes", ok);
	filemap_unmap(&m);
	close(fd);
	unlink(path);
}

/* In a child: map name, truncate it to 0 and read it, with no guard or with a guard on
 * another mapping.  Returns the child's wait status, or -1. */
static int fault_in_child(const char *name, int other_guard)
{
	struct filemap m = { 0 }, other = { 0 };
	char path[PATH_MAX], oname[NAME_MAX], opath[PATH_MAX];
	int fd, ofd, status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		fd = make_file(name, 64 << 10, path, sizeof(path));
		if (filemap_map(&m, fd, 0, 64 << 10) || truncate(path, 0))
			_exit(3);
		if (other_guard) {
			snprintf(oname, sizeof(oname), "%s.other", name);
			ofd = make_file(oname, 4096, opath, sizeof(opath));
			if (filemap_map(&other, ofd, 0, 4096))
				_exit(3);
			filemap_guard_begin(&other);
		}
		touch_all(&m);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

/* Under ASan its own SIGBUS handler was there first, and it is where an unguarded fault
 * chains to: a report and exit(1) rather than death by signal. */
#if defined(__SANITIZE_ADDRESS__)
#define CHAINED_DEATH(st) (WIFEXITED(st) && WEXITSTATUS(st) == 1)
#else
#define CHAINED_DEATH(st) 0
#endif

static void test_unguarded(void)
{
	char path[PATH_MAX];
	int st;

	st = fault_in_child("unguarded", 0);
	if (!CHECK("fault with no guard: child killed by SIGBUS",
		   st != -1 && ((WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS) || CHAINED_DEATH(st))))
		printf("#   status 0x%x\n", st);
	st = fault_in_child("otherguard", 1);
	if (!CHECK("fault outside the guarded mapping: child killed by SIGBUS",
		   st != -1 && ((WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS) || CHAINED_DEATH(st))))
		printf("#   status 0x%x\n", st);
	snprintf(path, sizeof(path), "%s/unguarded", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/otherguard", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/otherguard.other", dir);
	unlink(path);
}

struct thread_arg {
	struct filemap m;
	pthread_barrier_t *barrier;
	int rc, ok;
};

/* Both threads hold their guard through both barriers, so that one faults while the other
 * reads. */
static void *guarded_reader(void *p)
{
	struct thread_arg *a = p;

	filemap_guard_begin(&a->m);
	pthread_barrier_wait(a->barrier);
	touch_all(&a->m);
	a->ok = bytes_ok(&a->m, 4096);
	pthread_barrier_wait(a->barrier);
	a->rc = filemap_guard_end(&a->m, a->m.off + a->m.len);
	return NULL;
}

static void test_threads(void)
{
	struct thread_arg bad = { 0 }, good = { 0 };
	char bpath[PATH_MAX], gpath[PATH_MAX];
	pthread_barrier_t barrier;
	pthread_t tb, tg;
	int bfd = make_file("thread-bad", 4 * MIB, bpath, sizeof(bpath));
	int gfd = make_file("thread-good", 4 * MIB, gpath, sizeof(gpath));

	pthread_barrier_init(&barrier, NULL, 2);
	bad.barrier = good.barrier = &barrier;
	if (!CHECK("threads: set up", !filemap_map(&bad.m, bfd, 0, 4 * MIB) &&
					!filemap_map(&good.m, gfd, 0, 4 * MIB) && !truncate(bpath, 4096))) {
		close(bfd);
		close(gfd);
		return;
	}
	pthread_create(&tb, NULL, guarded_reader, &bad);
	pthread_create(&tg, NULL, guarded_reader, &good);
	pthread_join(tb, NULL);
	pthread_join(tg, NULL);
	CHECK_INT("threads: the faulting one gets -ENODATA", bad.rc, -ENODATA);
	CHECK_INT("threads: the healthy one gets 0", good.rc, 0);
	CHECK("threads: both read the first page right", bad.ok && good.ok);
	pthread_barrier_destroy(&barrier);
	filemap_unmap(&bad.m);
	filemap_unmap(&good.m);
	close(bfd);
	close(gfd);
	unlink(bpath);
	unlink(gpath);
}

static void test_unaligned(void)
{
	struct filemap m = { 0 };
	char path[PATH_MAX];
	int fd = make_file("unaligned", 64 << 10, path, sizeof(path)), ok;

	CHECK_INT("off 12345: map", filemap_map(&m, fd, 12345, 20000), 0);
	CHECK("off 12345: off, len", m.off == 12345 && m.len == 20000);
	filemap_guard_begin(&m);
	ok = m.data && m.data[0] == pat(12345) && bytes_ok(&m, m.len);
	CHECK_INT("off 12345: guard_end", filemap_guard_end(&m, m.off + m.len), 0);
	CHECK("off 12345: data points at the byte", ok);

	/* The window ends inside a page and the file ends before the window does. */
	CHECK_INT("off 65000, past end of file: map", filemap_map(&m, fd, 65000, 8192), 0);
	filemap_guard_begin(&m);
	ok = bytes_ok(&m, (64 << 10) - 65000);
	CHECK_INT("off 65000: guard_end(end of file) 0", filemap_guard_end(&m, 64 << 10), 0);
	filemap_guard_begin(&m);
	touch_all(&m);
	CHECK_INT("off 65000: guard_end(end of window) -ENODATA",
		  filemap_guard_end(&m, m.off + m.len), -ENODATA);
	CHECK("off 65000: bytes", ok);
	filemap_unmap(&m);
	close(fd);
	unlink(path);
}

int main(void)
{
	if (filemap_init() == -ENOTSUP) {
		SKIP("filemap", "the SIGBUS handler does not stick (ASAN_OPTIONS handle_sigbus=2?)");
		return 77;
	}
	if (!mkdtemp(dir)) {
		SKIP("filemap", "mkdtemp failed");
		return 77;
	}
	test_plain();
	test_shrink();
	test_shrink_last_page();
	test_grow();
	test_unguarded();
	test_threads();
	test_unaligned();
	CHECK("temporary directory removed", rmdir(dir) == 0);
	return unit_done();
}
