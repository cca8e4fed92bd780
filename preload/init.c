/* init.c - lazy init, constructor, destructor, fork handlers (see preload.h). */
#define _GNU_SOURCE
#include "preload.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "../core/core.h"
#include "../core/flush.h"
#include "../core/cpu.h"
#include "../core/log.h"
#include "../core/region.h"
#include "../stats/sample.h"
#include "../stats/server.h"
#include "../stats/stats.h"

enum { INIT_NONE, INIT_BUSY, INIT_DONE };

struct opt_values opt_g;
static int init_state;
static size_t (*libc_usable)(void *);
static int summary_fd = -1;            /* private copy of stderr, for the summary */
static struct stat summary_st;

/* Under AT_SECURE (a set-uid or set-gid program, or one with file
 * capabilities) the environment belongs to the user who started it, not to
 * the program's owner: every POOLALLOC_* variable is ignored, as glibc
 * ignores its MALLOC_* tunables there, so that nobody can have such a
 * program print its heap or call sites on their terminal. The defaults run,
 * and the stats server does not start (server_start). */
static const char *env_get(const char *name)
{
    if (getauxval(AT_SECURE))
        return NULL;
    return getenv(name);
}

static void warn_line(const char *line)
{
    struct logbuf b = {0};
    log_str(&b, line);
    log_str(&b, "\n");
    log_flush(&b, 2);
}

static void log_init(void)
{
    struct logbuf b = {0};
    log_str(&b, "poolalloc: init pid ");
    log_u64(&b, (uint64_t)getpid());
    log_str(&b, ": mode ");
    log_str(&b, cpu_mode_name());
    if (*cpu_fallback_reason) {
        log_str(&b, " (");
        log_str(&b, cpu_fallback_reason);
        log_str(&b, ")");
    }
    log_str(&b, ", region ");
    log_u64(&b, region_g.size >> 20);
    log_str(&b, " MiB (");
    log_u64(&b, region_g.size ? (uint64_t)1 << (region_g.slice_shift - 20) : 0);
    log_str(&b, " MiB per class), max_size ");
    log_u64(&b, core_cfg.max_size);
    log_str(&b, ", cpu_cache ");
    log_u64(&b, core_cfg.cpu_cache);
    log_str(&b, ", flush_ms ");
    log_u64(&b, core_cfg.flush_ms);
    log_str(&b, "\n");
    log_flush(&b, 2);
}

/* A fork child gets its own stats server only once it has lived one flush
 * period (from the flush thread, a clean context): a child that forks only
 * to exec never makes a socket it could not remove. */
static void init_fork_child(void)
{
    core_fork_child();
    server_fork_child();
    if (!opt_g.flush_ms)
        core_request_attention();   /* no flush thread: the next request starts it */
}

static void init_after_flush(void)
{
    server_attend();
}

void init_slow(void)
{
    int expect = INIT_NONE;
    if (!__atomic_compare_exchange_n(&init_state, &expect, INIT_BUSY, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return;
    opt_load(&opt_g, env_get, warn_line);
    struct core_config cfg = {
        .max_size = opt_g.max_size,
        .cpu_cache = opt_g.cpu_cache,
        .flush_ms = opt_g.flush_ms,
        .verbose = (int)opt_g.verbose,
        .check = (int)opt_g.check,
    };
    core_init(&cfg);
    /* May allocate: that request passes through (state is INIT_BUSY). */
    pthread_atfork(core_fork_prepare, core_fork_parent, init_fork_child);
    if (opt_g.verbose)
        log_init();
    __atomic_store_n(&init_state, INIT_DONE, __ATOMIC_RELEASE);
}

/* With POOLALLOC_STATS=1 only: keep a close-on-exec copy of stderr at a high
 * descriptor, because many programs (coreutils' sort, ls...) close stderr
 * before exit handlers run. The copy is used at exit only if it still names
 * the same file: if the program closed it and reused the number, it is left
 * alone. */
static void keep_stderr(void)
{
    struct stat st;
    if (fstat(2, &st) != 0)
        return;
    int fd = fcntl(2, F_DUPFD_CLOEXEC, 1000);
    if (fd < 0)
        fd = fcntl(2, F_DUPFD_CLOEXEC, 100);
    if (fd < 0)
        return;
    summary_fd = fd;
    summary_st = st;
}

static int summary_target(void)
{
    struct stat st;
    if (fcntl(2, F_GETFD) != -1)
        return 2;
    if (summary_fd >= 0 && fstat(summary_fd, &st) == 0 && st.st_dev == summary_st.st_dev &&
        st.st_ino == summary_st.st_ino)
        return summary_fd;
    return -1;
}

/* glibc's own malloc_usable_size, for the blocks we pass through. Looked up
 * in libc.so.6 itself: RTLD_NEXT would find the next definition in search
 * order, which in a program linked with another allocator (Debian's
 * redis-server links jemalloc) is that allocator's, and it crashes on a
 * glibc block. NULL: init_libc_usable() reads glibc's chunk header. */
static size_t (*find_libc_usable(void))(void *)
{
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (!libc)
        return NULL;
    size_t (*f)(void *) = (size_t(*)(void *))dlsym(libc, "malloc_usable_size");
    dlclose(libc);   /* NOLOAD took a reference; libc itself stays */
    return f;
}

/* Runs before main, after libc is up: the clean context in which a thread
 * can be started and dlsym called. */
__attribute__((constructor)) static void init_ctor(void)
{
    init_slow();
    libc_usable = find_libc_usable();
    sample_start(opt_g.sample, (int)opt_g.verbose);   /* loads libunwind: here, not in malloc */
    if (opt_g.stats)
        keep_stderr();
    flush_set_hook(init_after_flush);
    core_start_background();
    server_start(&opt_g);
}

__attribute__((destructor)) static void init_dtor(void)
{
    server_stop();
    if (!opt_g.stats)
        return;
    int fd = summary_target();
    if (fd >= 0)
        stats_print_summary(fd);
}

size_t init_libc_usable(void *p)
{
    if (libc_usable)
        return libc_usable(p);
    /* Before the constructor: glibc's chunk header, size in the word before
     * the block; bit 1 marks an mmapped chunk (two header words, not one). */
    size_t head = ((size_t *)p)[-1];
    size_t chunk = head & ~(size_t)7;
    return chunk - ((head & 2) ? 2 * sizeof(size_t) : sizeof(size_t));
}
