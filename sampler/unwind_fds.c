/* SPDX-License-Identifier: MIT */
/* unwind_fds.c - libunwind's validation pipe, moved (see unwind_fds.h). */
#define _GNU_SOURCE
#include "unwind_fds.h"

#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define FD_SCAN_MAX (1 << 20)   /* larger ints are not descriptors we could have */

struct found {
    int *pair;      /* the one pair found, or NULL */
    int matches;    /* how many pairs looked like it */
};

static int access_mode(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : (fl & O_ACCMODE);
}

/* Are p[0] and p[1] the read and the write end of one pipe? */
static int is_pipe_pair(const int *p)
{
    /* pipe2 takes the lowest free number for the read end, then the next
     * free one for the write end: p[0] < p[1], which most pairs of ints in
     * libunwind's data are not (and then no system call is made). */
    if (p[0] < 0 || p[0] >= p[1] || p[1] >= FD_SCAN_MAX)
        return 0;
    struct stat r, w;
    if (fstat(p[0], &r) != 0 || !S_ISFIFO(r.st_mode))
        return 0;
    if (fstat(p[1], &w) != 0 || !S_ISFIFO(w.st_mode))
        return 0;
    return r.st_dev == w.st_dev && r.st_ino == w.st_ino && access_mode(p[0]) == O_RDONLY &&
           access_mode(p[1]) == O_WRONLY;
}

static int is_libunwind(const char *name)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    return strncmp(base, "libunwind.so", 12) == 0;
}

/* Scans the writable segments of libunwind for the pair. */
static int scan(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct found *f = arg;
    if (!info->dlpi_name || !is_libunwind(info->dlpi_name))
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
            continue;
        uintptr_t start = (info->dlpi_addr + ph->p_vaddr + 3) & ~(uintptr_t)3;
        uintptr_t end = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
        for (uintptr_t a = start; a + 2 * sizeof(int) <= end; a += sizeof(int)) {
            int *p = (int *)a;
            if (is_pipe_pair(p)) {
                f->pair = p;
                f->matches++;
            }
        }
    }
    return 0;
}

/* The lowest number of the block where we move the two ends: just under
 * 1024, the soft limit most systems give a process, or under a lower limit.
 * Not under a higher one: the kernel sizes a process's descriptor table to
 * its highest open number and copies that table at every fork, so a pipe at
 * 19,984 (a limit of 20,000) cost a shell that forks for every command 50 us
 * a fork, and one at half of a container's 1,048,576 would copy 4 MiB. */
#define HIGH_TOP 1024

static int high_base(void)
{
    struct rlimit rl;
    rlim_t top = HIGH_TOP;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < top)
        top = rl.rlim_cur;
    return top > 64 ? (int)top - 16 : 3;
}

int unwind_fds_move(int (*backtrace)(void **, int))
{
    void *frame[2];
    backtrace(frame, 2);   /* libunwind's first unwind opens its pipe */
    struct found f = {0};
    dl_iterate_phdr(scan, &f);
    if (f.matches != 1)
        return 0;   /* none, or not certain which: change nothing */
    int base = high_base();
    if (f.pair[0] >= base && f.pair[1] >= base)
        return 0;   /* already out of the way */
    int r = fcntl(f.pair[0], F_DUPFD_CLOEXEC, base);
    int w = r < 0 ? -1 : fcntl(f.pair[1], F_DUPFD_CLOEXEC, base);
    if (r < 0 || w < 0) {
        if (r >= 0)
            close(r);
        return -1;
    }
    int old_r = f.pair[0], old_w = f.pair[1];
    __atomic_store_n(&f.pair[0], r, __ATOMIC_RELEASE);
    __atomic_store_n(&f.pair[1], w, __ATOMIC_RELEASE);
    close(old_r);
    close(old_w);
    return 1;
}
