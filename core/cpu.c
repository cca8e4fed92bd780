/* SPDX-License-Identifier: MIT */
/* cpu.c - mode selection, CPU numbers, membarrier fences (see cpu.h). */
#define _GNU_SOURCE
#include "cpu.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <unistd.h>

enum cpu_mode cpu_mode = CPU_MODE_LOCKED;
ptrdiff_t cpu_rseq_offset;
const char *cpu_fallback_reason = "not initialised";
static int cpu_fence_per_cpu;

static long membarrier(int cmd, unsigned flags, int cpu)
{
    return syscall(__NR_membarrier, cmd, flags, cpu);
}

void cpu_init(int allow_rseq)
{
    cpu_rseq_offset = 0;
    cpu_mode = CPU_MODE_LOCKED;
    if (__rseq_size > 0) {
        const volatile int32_t *id =
            (const volatile int32_t *)((char *)cpu_thread_pointer() + __rseq_offset + 4);
        if (*id >= 0)
            cpu_rseq_offset = __rseq_offset;
    }
    if (!CPU_HAVE_RSEQ) {
        cpu_fallback_reason = "no restartable sequences for this architecture";
        return;
    }
    if (!allow_rseq) {
        cpu_fallback_reason = "restartable sequences not allowed";
        return;
    }
    if (!cpu_rseq_offset) {
        cpu_fallback_reason = "glibc did not register rseq (old kernel, valgrind, or "
                              "GLIBC_TUNABLES=glibc.pthread.rseq=0)";
        return;
    }
    int saved = errno;
    if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0) != 0) {
        cpu_fallback_reason = "membarrier(REGISTER_PRIVATE_EXPEDITED_RSEQ) refused";
        errno = saved;
        return;
    }
    /* Per-CPU fences need Linux 5.10; without them every fence is global. */
    cpu_fence_per_cpu =
        membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, MEMBARRIER_CMD_FLAG_CPU, 0) == 0;
    errno = saved;
    cpu_fallback_reason = "";
    cpu_mode = CPU_MODE_RSEQ;
}

const char *cpu_mode_name(void)
{
    return cpu_mode == CPU_MODE_RSEQ ? "rseq" : "locked";
}

void cpu_fence(int cpu)
{
    int saved = errno;
    if (cpu >= 0 && cpu_fence_per_cpu &&
        membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, MEMBARRIER_CMD_FLAG_CPU, cpu) == 0) {
        errno = saved;
        return;
    }
    while (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, 0, 0) != 0 && errno == EINTR)
        ;
    errno = saved;
}

void cpu_after_fork_child(void)
{
    if (cpu_mode == CPU_MODE_RSEQ) {
        int saved = errno;
        membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0);
        errno = saved;
    }
}

unsigned cpu_current_slow(void)
{
    int c = sched_getcpu();
    return c < 0 ? 0 : (unsigned)c;
}

unsigned cpu_possible(void)
{
    /* "0-7" or "0,2-5": the highest number + 1. Read with read(2): stdio and
     * get_nprocs_conf() may allocate. */
    char buf[256];
    unsigned max = 0, cur = 0;
    int any = 0;
    int fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] >= '0' && buf[i] <= '9') {
                cur = cur * 10 + (unsigned)(buf[i] - '0');
                any = 1;
            } else {
                if (any && cur > max)
                    max = cur;
                cur = 0;
            }
        }
        if (any && cur > max)
            max = cur;
    }
    if (!any)
        return 256;   /* no /sys: a generous bound; caches are made lazily */
    return max + 1;
}
