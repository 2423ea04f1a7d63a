/*
 * LD_PRELOAD shim for Debian 12's user-mode-linux (6.1) on hosts whose CPU has AMX.
 *
 * Why: UML saves and restores the FPU/vector state of every guest process with
 * ptrace(PTRACE_GETREGSET / PTRACE_SETREGSET, NT_X86_XSTATE) using a buffer of fixed size:
 * 2696 bytes in this build, i.e. x87/SSE, AVX, AVX-512 and PKRU.  The host kernel accepts a
 * SETREGSET only with the host's whole XSAVE size, which AMX (TILECFG + 8 KiB TILEDATA)
 * raises to about 11 KiB, and answers EFAULT otherwise.  So on such hosts the guest dies at
 * its first process: "userspace - ptrace set fp regs failed, errno = 14", then
 * "Kernel panic - not syncing: Attempted to kill init!".  (Fixed upstream after 6.1.)
 *
 * What: a SETREGSET NT_X86_XSTATE shorter than the host size becomes: read the traced
 * process's whole state, overlay the bytes UML gives, write the whole state back.  The
 * bytes beyond UML's buffer are AMX state, which guest processes cannot use (the host never
 * granted the UML process AMX permission), so keeping the host process's own copy is exact.
 * GETREGSET with a short buffer already works (the kernel truncates) and passes through,
 * as does every other request.  Where UML's buffer is already whole, nothing changes.
 * tests/ktls/ktls_probe.c vecregs checks that ZMM/opmask state still follows each thread.
 *
 * No malloc and no big stack buffer: UML calls ptrace on its own 16 KiB kernel stacks, and
 * runs one CPU, so one static scratch buffer is enough.
 * Built by scripts/ktls-guest.sh setup:  cc -O2 -shared -fPIC -o xstate-shim.so THIS.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

#define NT_XSTATE 0x202   /* NT_X86_XSTATE from linux/elf.h */

typedef long (*ptrace_fn)(int, pid_t, void *, void *);
static ptrace_fn real_ptrace;
static unsigned char whole[65536] __attribute__((aligned(64))); /* > any XSAVE size */

static long call(int req, pid_t pid, void *addr, void *data)
{
    if (!real_ptrace)
        real_ptrace = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
    return real_ptrace(req, pid, addr, data);
}

long ptrace(enum __ptrace_request req, ...)
{
    va_list ap;
    va_start(ap, req);
    pid_t pid = va_arg(ap, pid_t);
    void *addr = va_arg(ap, void *);
    void *data = va_arg(ap, void *);
    va_end(ap);

    if (req != PTRACE_SETREGSET || (uintptr_t)addr != NT_XSTATE)
        return call(req, pid, addr, data);
    struct iovec *iov = data;
    /* The kernel shrinks iov_len to the whole size it has. */
    struct iovec wiov = { whole, sizeof whole };
    if (call(PTRACE_GETREGSET, pid, addr, &wiov) != 0 || iov->iov_len >= wiov.iov_len)
        return call(req, pid, addr, data);
    memcpy(whole, iov->iov_base, iov->iov_len);
    return call(PTRACE_SETREGSET, pid, addr, &wiov);
}
