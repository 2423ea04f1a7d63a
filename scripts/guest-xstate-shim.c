/*
 * LD_PRELOAD shim for Debian 12's user-mode-linux (6.1) on hosts with a large XSAVE area.
 *
 * Why: UML saves and restores the FPU/vector state of every guest process with
 * ptrace(PTRACE_GETREGSET / PTRACE_SETREGSET, NT_X86_XSTATE) using a fixed 832-byte buffer
 * (struct _xstate: legacy FXSAVE + header + YMM).  The host kernel accepts a SETREGSET only
 * with the host's whole XSAVE size (2688 bytes with AVX-512, about 11 KiB with AMX) and
 * answers EFAULT otherwise, so on such CPUs the guest dies at its first process:
 *     "userspace - ptrace set fp regs failed, errno = 14" -> "Attempted to kill init!"
 * (fixed upstream in later kernels; 6.1 still has it).
 *
 * What: for xstate requests shorter than the host size we
 *   GET:  read the whole state, keep it in a small cache keyed by UML's buffer address
 *         (one buffer per guest thread), and hand UML its first 832 bytes;
 *   SET:  take this thread's cached whole state (or, on a miss, the traced process's current
 *         state), overlay the 832 bytes UML gives back, and set the whole thing.
 * The cache keeps AVX-512 and other state beyond 832 bytes per guest thread, so threads that
 * share one host process (one guest mm) do not see each other's ZMM/opmask registers; on a
 * miss (new or evicted thread) the tail is whatever the host process holds, which is exactly
 * what stock UML gives on hosts where it works.  Every other ptrace request passes through.
 *
 * No malloc and no big stack buffers: UML calls ptrace from its own kernel stacks (16 KiB).
 * Built by scripts/ktls-guest.sh setup:  cc -O2 -shared -fPIC -o xstate-shim.so THIS.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

#define NT_XSTATE 0x202   /* NT_X86_XSTATE from linux/elf.h */
#define SLOTS 1024        /* direct-mapped cache entries: more than the guest's live threads */
#define MAXX 65536        /* upper bound for the host XSAVE size */

typedef long (*ptrace_fn)(int, pid_t, void *, void *);
static ptrace_fn real_ptrace;
static size_t full;                 /* host XSAVE size in bytes; 0 while unknown */
static void *keys[SLOTS];           /* UML buffer address cached in each slot */
static unsigned char *pool;         /* SLOTS * full bytes, mapped on first use */
static unsigned char scratch[MAXX]; /* UML runs one CPU: one scratch buffer is enough */

static long call(int req, pid_t pid, void *addr, void *data)
{
    if (!real_ptrace)
        real_ptrace = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
    return real_ptrace(req, pid, addr, data);
}

/* Whole-state GET; the first success tells us the host size (the kernel shrinks iov_len). */
static long get_whole(pid_t pid, void *buf, size_t len)
{
    struct iovec iov = { buf, len };
    long r = call(PTRACE_GETREGSET, pid, (void *)NT_XSTATE, &iov);
    if (r == 0 && !full)
        full = iov.iov_len;
    return r;
}

long ptrace(enum __ptrace_request req, ...)
{
    va_list ap;
    va_start(ap, req);
    pid_t pid = va_arg(ap, pid_t);
    void *addr = va_arg(ap, void *);
    void *data = va_arg(ap, void *);
    va_end(ap);

    if ((req != PTRACE_GETREGSET && req != PTRACE_SETREGSET) || (uintptr_t)addr != NT_XSTATE)
        return call(req, pid, addr, data);
    struct iovec *iov = data;
    if (!full && get_whole(pid, scratch, sizeof scratch) != 0)
        return call(req, pid, addr, data);
    if (iov->iov_len >= full) /* UML already asks for everything: nothing to fix */
        return call(req, pid, addr, data);
    if (!pool) {
        void *p = mmap(NULL, (size_t)SLOTS * full, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return call(req, pid, addr, data);
        pool = p;
    }
    size_t slot = ((uintptr_t)iov->iov_base >> 6) % SLOTS;
    unsigned char *st = pool + slot * full;

    if (req == PTRACE_GETREGSET) {
        long r = get_whole(pid, st, full);
        if (r) {
            keys[slot] = NULL;
            return r;
        }
        keys[slot] = iov->iov_base;
        memcpy(iov->iov_base, st, iov->iov_len);
        return 0;
    }
    unsigned char *whole = st;
    if (keys[slot] != iov->iov_base) { /* unknown thread: start from the process's state */
        if (get_whole(pid, scratch, full))
            return call(req, pid, addr, data);
        whole = scratch;
    }
    memcpy(whole, iov->iov_base, iov->iov_len);
    struct iovec wiov = { whole, full };
    return call(PTRACE_SETREGSET, pid, addr, &wiov);
}
