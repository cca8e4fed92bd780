/* cpu.c - CPU number and mode (see cpu.h). */
#define _GNU_SOURCE
#include "cpu.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/rseq.h>
#include <unistd.h>

ptrdiff_t cpu_rseq_offset;
enum cpu_mode cpu_mode = CPU_MODE_LOCK_GETCPU;

void cpu_init(void)
{
    if (__rseq_size > 0) {
        const volatile int32_t *id =
            (const volatile int32_t *)((char *)cpu_thread_pointer() + __rseq_offset + 4);
        if (*id >= 0) {
            cpu_rseq_offset = __rseq_offset;
            cpu_mode = CPU_MODE_LOCK_RSEQ_ID;
            return;
        }
    }
    cpu_rseq_offset = 0;
    cpu_mode = CPU_MODE_LOCK_GETCPU;
}

const char *cpu_mode_name(void)
{
    return cpu_mode == CPU_MODE_LOCK_RSEQ_ID ? "percpu-lock/rseq-cpu" : "percpu-lock/getcpu";
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
