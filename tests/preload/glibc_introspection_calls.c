/* SPDX-License-Identifier: MIT */
/*
 * glibc_introspection_calls — the calls glibc programs make to ask their allocator,
 * answered for the pools too: a program that holds 32 MiB in small objects sees
 * mallinfo2()'s uordblks grow by what it holds (within class rounding), mallinfo()
 * agree with it field by field and saturate at INT_MAX where glibc's wraps (a 3 GiB
 * block), malloc_info() write one well-formed document (python's xml.etree parses it)
 * with glibc's heaps and a <poolalloc> element, and refuse options other than 0 with
 * EINVAL; malloc_stats() print glibc's lines and then poolalloc's summary on stderr;
 * and after the program frees it all, malloc_trim(0) return 1 and take RSS back near
 * where it started.
 *
 * The same checks run on plain glibc (where they describe glibc's own answers), and
 * under the preload three times: as the runner starts it (pools from the first
 * request), then in two children of its own: GLIBC_TUNABLES=glibc.pthread.rseq=0 (the
 * locked mode) and with the pools never started (POOLALLOC_START_ALLOCS), where every
 * answer is glibc's plus a poolalloc part of zeros.
 */
#define _GNU_SOURCE
#include "support/preload_test.h"

#include <limits.h>
#include <malloc.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define TEST "glibc_introspection_calls"

#define MIB ((size_t)1 << 20)
#define OBJ 56   /* 64 with the class rounding, and in glibc with its chunk header */
#define HELD (32 * MIB)

extern char **environ;

/* mallinfo() is deprecated in glibc's header (its int fields wrap): called on
 * purpose here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static struct mallinfo old_mallinfo(void)
{
    return mallinfo();
}
#pragma GCC diagnostic pop

static const char *variant = "main";
static int pools;   /* the pools serve this run's small requests */

static int (*get_stats)(struct poolalloc_stats *);

static struct poolalloc_stats stats_now(void)
{
    struct poolalloc_stats st = {.size = sizeof st};
    if (get_stats && get_stats(&st) != 0)
        FAILF("[%s] poolalloc_get_stats failed", variant);
    return st;
}

/* ---- mallinfo ---------------------------------------------------------------------- */

static int sat(size_t v)
{
    return v > (size_t)INT_MAX ? INT_MAX : (int)v;
}

/* What mallinfo() should say for a mallinfo2() figure: poolalloc saturates,
 * glibc's own keeps the low 32 bits (a 3 GiB hblkhd reads as negative). */
static int old_field(size_t v)
{
    return pt_preloaded() ? sat(v) : (int)(unsigned)v;
}

/* mallinfo() between two mallinfo2() calls: each field within the two readings
 * (a flush may move bytes meanwhile), saturated. */
static void check_mallinfo_agrees(const char *when)
{
    struct mallinfo2 a = mallinfo2();
    struct mallinfo b = old_mallinfo();
    struct mallinfo2 c = mallinfo2();
#define FIELD(f)                                                                           \
    do {                                                                                   \
        size_t lo = a.f < c.f ? a.f : c.f, hi = a.f < c.f ? c.f : a.f;                     \
        CHECK(b.f >= old_field(lo) && b.f <= old_field(hi),                                \
              "[%s] %s: mallinfo()." #f " %d, mallinfo2()." #f " %zu and %zu", variant,     \
              when, b.f, a.f, c.f);                                                        \
    } while (0)
    FIELD(arena);
    FIELD(ordblks);
    FIELD(smblks);
    FIELD(hblks);
    FIELD(hblkhd);
    FIELD(fsmblks);
    FIELD(uordblks);
    FIELD(fordblks);
    FIELD(keepcost);
#undef FIELD
}

/* ---- malloc_info ---------------------------------------------------------------------- */

static const char *xml_check_py =
    "import sys, xml.etree.ElementTree as E\n"
    "r = E.parse(sys.argv[1]).getroot()\n"
    "want_pa, min_in_use = sys.argv[2] == '1', int(sys.argv[3])\n"
    "bad = []\n"
    "if r.tag != 'malloc': bad.append('root is <%s>, not <malloc>' % r.tag)\n"
    "if not [h for h in r.findall('heap') if h.get('nr') == '0']:\n"
    "    bad.append(\"no glibc <heap nr='0'>\")\n"
    "if r.find('total') is None: bad.append(\"no glibc <total> lines\")\n"
    "pa = r.findall('poolalloc')\n"
    "if want_pa:\n"
    "    if len(pa) != 1: bad.append('%d <poolalloc> elements' % len(pa))\n"
    "    else:\n"
    "        p = pa[0]\n"
    "        t = {x.get('type'): int(x.get('size')) for x in p.findall('total')}\n"
    "        for k in ('in_use', 'cached', 'central'):\n"
    "            if k not in t: bad.append('no <total type=%s>' % k)\n"
    "        if t.get('in_use', 0) < min_in_use:\n"
    "            bad.append('in_use %d < %d' % (t.get('in_use', 0), min_in_use))\n"
    "        if p.find('sizes') is None: bad.append('no <sizes> in <poolalloc>')\n"
    "        if not p.get('version'): bad.append('no version')\n"
    "        print('poolalloc element: version %s mode %s, in_use %d' %\n"
    "              (p.get('version'), p.get('mode'), t.get('in_use', 0)))\n"
    "elif pa: bad.append('a <poolalloc> element on plain glibc')\n"
    "for b in bad: print('xml:', b, file=sys.stderr)\n"
    "sys.exit(1 if bad else 0)\n";

/* Runs python3 (not preloaded) on the document; 0 if it is as wanted. */
static int xml_check(const char *path, int want_pa, size_t min_in_use)
{
    char min[32];
    snprintf(min, sizeof min, "%zu", min_in_use);
    char *argv[] = {"python3", "-c", (char *)xml_check_py, (char *)path,
                    want_pa ? "1" : "0", min, NULL};
    /* Its environment without LD_PRELOAD: the document is judged, not python. */
    static char *envp[512];
    size_t n = 0;
    for (char **e = environ; *e && n < 510; e++)
        if (strncmp(*e, "LD_PRELOAD=", 11) != 0)
            envp[n++] = *e;
    envp[n] = NULL;
    fflush(stdout);
    pid_t pid;
    if (posix_spawnp(&pid, "python3", NULL, NULL, argv, envp) != 0) {
        FAILF("[%s] cannot run python3 to parse malloc_info's XML", variant);
        return -1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void check_malloc_info(size_t min_in_use)
{
    char path[] = "/tmp/pa-malloc-info.XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "w+");
    if (!f) {
        FAILF("[%s] mkstemp or fdopen failed", variant);
        return;
    }
    /* The manual's contract: -1 and errno EINVAL. glibc itself (2.36) returns
     * EINVAL instead, errno untouched: either is a refusal. */
    errno = 0;
    int bad = malloc_info(1, f), bad_errno = pt_errno();
    CHECK((bad == -1 && bad_errno == EINVAL) || (!pt_preloaded() && bad == EINVAL),
          "[%s] malloc_info(1, fp) returned %d, errno %d: not EINVAL", variant, bad, bad_errno);
    fflush(f);
    CHECK(ftell(f) == 0, "[%s] malloc_info(1, fp) wrote %ld bytes", variant, ftell(f));
    CHECK(malloc_info(0, f) == 0, "[%s] malloc_info(0, fp) did not return 0", variant);
    fflush(f);
    long total = ftell(f);
    rewind(f);
    static char buf[1 << 20];
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = '\0';
    fclose(f);
    int rc = xml_check(path, pt_preloaded(), min_in_use);
    CHECK(rc == 0, "[%s] malloc_info's document (%ld bytes) is not as wanted (exit %d)",
          variant, total, rc);
    if (rc != 0)
        fprintf(stderr, "%.2000s\n", buf);
    unlink(path);
    const char *t = getenv("GLIBC_TUNABLES");
    if (pt_preloaded() && t && strstr(t, "glibc.pthread.rseq=0"))
        CHECK(strstr(buf, "mode=\"locked\""),
              "[%s] rseq=0, but malloc_info does not say mode=\"locked\"", variant);
}

/* ---- malloc_stats ---------------------------------------------------------------------- */

static void check_malloc_stats(void)
{
    char tmpl[] = "/tmp/pa-malloc-stats.XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) {
        FAILF("mkstemp failed");
        return;
    }
    unlink(tmpl);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    malloc_stats();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    static char out[65536];
    ssize_t n = pread(fd, out, sizeof out - 1, 0);
    close(fd);
    out[n > 0 ? n : 0] = '\0';
    const char *glibc = strstr(out, "Arena 0:");
    const char *ours = strstr(out, "poolalloc: summary for pid");
    CHECK(glibc && strstr(out, "in use bytes"), "[%s] malloc_stats() printed no glibc lines: %.300s",
          variant, out);
    if (!pt_preloaded()) {
        CHECK(!ours, "[%s] a poolalloc summary on plain glibc", variant);
        return;
    }
    CHECK(ours, "[%s] malloc_stats() printed no poolalloc summary: %.300s", variant, out);
    CHECK(!ours || !glibc || glibc < ours, "[%s] malloc_stats(): poolalloc's lines before glibc's",
          variant);
    CHECK(!ours || strstr(ours, "(poolalloc " POOLALLOC_VERSION ")"),
          "[%s] malloc_stats(): the summary does not name version " POOLALLOC_VERSION, variant);
    CHECK(strstr(out, "poolalloc: in use "), "[%s] malloc_stats(): no 'in use' total", variant);
}

/* ---- one run ---------------------------------------------------------------------------- */

static void run_checks(void)
{
    size_t count = HELD / OBJ;
    unsigned char **v = mmap(NULL, count * sizeof *v, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (v == MAP_FAILED) {
        FAILF("mmap failed");
        return;
    }
    check_mallinfo_agrees("at the start");
    size_t rss0 = pt_rss_bytes();
    struct mallinfo2 m0 = mallinfo2();
    struct poolalloc_stats s0 = stats_now();
    count = pt_alloc_filled(v, count, OBJ);
    size_t held = count * OBJ;
    /* Any of a few (one of them could be a sampled request, served by glibc). */
    pools = pt_owns(v[count / 4]) == 1 || pt_owns(v[count / 2]) == 1 ||
            pt_owns(v[count - 1]) == 1;
    struct mallinfo2 m1 = mallinfo2();
    struct poolalloc_stats s1 = stats_now();
    size_t grew = m1.uordblks - m0.uordblks;
    printf("[%s] %s; held %.1f MiB: mallinfo2 uordblks +%.1f MiB, arena +%.1f MiB\n", variant,
           pools ? "pools started" : "pools not started (or plain glibc)", (double)held / MIB,
           (double)grew / MIB, (double)(m1.arena - m0.arena) / MIB);
    /* At most a quarter more: the class (or glibc's chunk header) rounds up. */
    CHECK(m1.uordblks >= m0.uordblks + held && grew <= held + held / 4 + MIB,
          "[%s] mallinfo2().uordblks %zu -> %zu while the program holds %zu more", variant,
          m0.uordblks, m1.uordblks, held);
    CHECK(m1.arena >= m1.uordblks, "[%s] arena %zu below uordblks %zu", variant, m1.arena,
          m1.uordblks);
    if (pools)
        CHECK(s1.in_use_bytes >= s0.in_use_bytes + held * 9 / 10,
              "[%s] poolalloc in_use_bytes %llu -> %llu for %zu held", variant,
              (unsigned long long)s0.in_use_bytes, (unsigned long long)s1.in_use_bytes, held);
    check_mallinfo_agrees("holding");
    check_malloc_info(pools ? held : 0);
    check_malloc_stats();

    for (size_t i = 0; i < count; i += 4099)
        CHECK(v[i][OBJ - 1] == (unsigned char)(i | 1), "object %zu lost its content", i);
    /* Whatever glibc's heap had to give back goes now: the next trim's answer is
     * about the frees below. */
    malloc_trim(0);
    for (size_t i = 0; i < count; i++)
        free(v[i]);
    munmap(v, count * sizeof *v);

    size_t rss_freed = pt_rss_bytes();
    struct poolalloc_stats s2 = stats_now();
    int trimmed = malloc_trim(0);
    size_t rss_trim = pt_rss_bytes();
    struct poolalloc_stats s3 = stats_now();
    printf("[%s] freed: RSS %.1f MiB, start %.1f MiB; malloc_trim(0) = %d, RSS %.1f MiB; "
           "pools: %llu bytes given back, %llu cached and %llu central left\n",
           variant, (double)rss_freed / MIB, (double)rss0 / MIB, trimmed,
           (double)rss_trim / MIB, (unsigned long long)(s3.returned_bytes - s2.returned_bytes),
           (unsigned long long)s3.cached_bytes, (unsigned long long)s3.central_bytes);
    CHECK(trimmed == 1, "[%s] malloc_trim(0) returned %d after %zu bytes were freed", variant,
          trimmed, held);
    CHECK(rss_trim <= rss0 + 4 * MIB, "[%s] RSS %zu after malloc_trim(0), %zu at the start",
          variant, rss_trim, rss0);
    if (pools) {
        CHECK(s3.returned_bytes >= s2.returned_bytes + held * 3 / 4,
              "[%s] returned_bytes %llu -> %llu: malloc_trim did not give the pools' memory back",
              variant, (unsigned long long)s2.returned_bytes,
              (unsigned long long)s3.returned_bytes);
        /* No thread of this program allocates meanwhile: the caches are empty;
         * central keeps only the free slots of spans still partly in use. */
        CHECK(s3.cached_bytes == 0 && s3.central_bytes < 2 * MIB,
              "[%s] after malloc_trim: %llu cached and %llu central bytes left", variant,
              (unsigned long long)s3.cached_bytes, (unsigned long long)s3.central_bytes);
    }
    check_mallinfo_agrees("after malloc_trim");

    /* A block of 3 GiB (never touched: address space only). */
    size_t big_n = (size_t)3 << 30;
    void *big = malloc(pt_size(big_n));
    if (!big) {
        printf("[%s] malloc(3 GiB) failed: saturation not checked\n", variant);
        return;
    }
    struct mallinfo2 b2 = mallinfo2();
    struct mallinfo b1 = old_mallinfo();
    CHECK(b2.hblkhd >= big_n, "[%s] mallinfo2().hblkhd %zu with a 3 GiB block", variant,
          b2.hblkhd);
    if (pt_preloaded())
        CHECK(b1.hblkhd == INT_MAX, "[%s] mallinfo().hblkhd %d with a 3 GiB block: not saturated",
              variant, b1.hblkhd);
    else
        printf("[%s] plain glibc: mallinfo().hblkhd %d with a 3 GiB block (wraps)\n", variant,
               b1.hblkhd);
    check_mallinfo_agrees("with a 3 GiB block");
    free(big);
}

/* The same program again, with `vars` set (replacing any inherited value). */
static void run_child(const char *label, char **vars)
{
    static char *envp[512];
    size_t n = 0;
    for (char **e = environ; *e && n < 500; e++) {
        int replaced = !strncmp(*e, "GIC_VARIANT=", 12);
        for (char **v = vars; *v && !replaced; v++)
            replaced = !strncmp(*e, *v, (size_t)(strchr(*v, '=') - *v + 1));
        if (!replaced)
            envp[n++] = *e;
    }
    static char tag[64];
    snprintf(tag, sizeof tag, "GIC_VARIANT=%s", label);
    envp[n++] = tag;
    for (char **v = vars; *v; v++)
        envp[n++] = *v;
    envp[n] = NULL;
    char *argv[] = {"glibc_introspection_calls", NULL};
    fflush(stdout);
    fflush(stderr);
    pid_t pid;
    if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, envp) != 0) {
        FAILF("cannot start the %s child", label);
        return;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the %s child failed (status %#x)",
          label, status);
}

int main(void)
{
    pt_init(TEST);
    *(void **)&get_stats = dlsym(RTLD_DEFAULT, "poolalloc_get_stats");
    const char *v = getenv("GIC_VARIANT");
    if (v)
        variant = v;
    run_checks();
    if (v && !strcmp(v, "not-started"))
        CHECK(!pools, "[%s] the pools started, though POOLALLOC_START_ALLOCS forbids it",
              variant);
    else if (pt_preloaded())
        CHECK(pools, "[%s] the pools did not serve the program", variant);
    if (!v && pt_preloaded()) {
        char *locked[] = {"GLIBC_TUNABLES=glibc.pthread.rseq=0", NULL};
        run_child("no-rseq", locked);
        char *late[] = {"POOLALLOC_START_MS=86400000", "POOLALLOC_START_ALLOCS=1000000000",
                        NULL};
        run_child("not-started", late);
    }
    return pt_finish(TEST);
}
