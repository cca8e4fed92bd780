/* SPDX-License-Identifier: MIT */
/* sites.c - `poolstat sites` and `poolstat heap`: the sampled allocation
 * sites of a process, symbolized here (see poolstat.h). Frames arrive as
 * return addresses; each is looked up one byte back (inside its call
 * instruction) in /proc/PID/maps, turned into an address of its ELF file,
 * and named by addr2line (binutils), one run per file. Everything read here
 * (the reply, the maps, the objects, what addr2line says of them) comes from
 * the target, which may be another user's: see "symbols" for how its files
 * are read, and every string goes through poolstat_printable before it is
 * printed as text (JSON escapes it instead). */
#define _GNU_SOURCE
#include <ctype.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "poolstat.h"

#define FRAMES_MAX 64
#define A2L_BATCH  256   /* addresses per addr2line run */

struct site {
    uint64_t id, live_objects, live_bytes, total_objects, total_bytes, live_samples, total_samples;
    size_t nframes;
    uint64_t frame[FRAMES_MAX];
};

struct sym {
    uint64_t addr;       /* return address as sent */
    char *func, *file;   /* from addr2line; NULL if unknown */
    char *object;        /* mapped file, NULL if none */
    uint64_t offset;     /* address within the object's ELF */
};

struct sites {
    char sampling[160];   /* "on", or "off (why)" */
    uint64_t pid, sample_bytes, nsites, samples_live, samples_total, dropped;
    uint64_t live_objects, live_bytes, total_objects, total_bytes;
    struct site *site;
    size_t n;
    uint64_t order_live[64], order_total[64];
    size_t nlive, ntotal;
    struct sym *sym;
    size_t nsym;
};

/* ---- the reply ---------------------------------------------------------------------------- */

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static void parse_ids(char *rest, uint64_t *ids, size_t *n)
{
    char *save = NULL;
    *n = 0;
    for (char *w = strtok_r(rest, " ", &save); w && *n < 64; w = strtok_r(NULL, " ", &save))
        if (parse_u64(w, &ids[*n]) == 0)
            (*n)++;
}

/* Fills s from the body of a `sites` reply. Unknown keys and columns are skipped. */
static void parse_sites(char *body, struct sites *s)
{
    static const char *const col_name[] = {"site", "live_objects", "live_bytes", "total_objects",
                                           "total_bytes", "live_samples", "total_samples"};
    int col[16];
    size_t ncol = 0, cap = 0;
    char *save = NULL;
    for (char *l = strtok_r(body, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(l, ' ');
        char *rest = sp ? sp + 1 : l + strlen(l);
        if (sp)
            *sp = '\0';
        if (!strcmp(l, "site.columns")) {
            char *s2 = NULL;
            ncol = 0;
            for (char *w = strtok_r(rest, " ", &s2); w && ncol < 16; w = strtok_r(NULL, " ", &s2)) {
                col[ncol] = -1;
                for (int k = 0; k < 7; k++)
                    if (!strcmp(w, col_name[k]))
                        col[ncol] = k;
                ncol++;
            }
        } else if (!strcmp(l, "site")) {
            struct site z = {0};
            uint64_t *field[] = {&z.id, &z.live_objects, &z.live_bytes, &z.total_objects,
                                 &z.total_bytes, &z.live_samples, &z.total_samples};
            char *at = strstr(rest, " @");
            if (at)
                *at = '\0';
            char *s2 = NULL;
            size_t i = 0;
            for (char *w = strtok_r(rest, " ", &s2); w; w = strtok_r(NULL, " ", &s2), i++) {
                uint64_t v;
                if (i < ncol && col[i] >= 0 && parse_u64(w, &v) == 0)
                    *field[col[i]] = v;
            }
            if (at) {
                s2 = NULL;
                for (char *w = strtok_r(at + 2, " ", &s2); w && z.nframes < FRAMES_MAX;
                     w = strtok_r(NULL, " ", &s2))
                    if (parse_u64(w, &z.frame[z.nframes]) == 0)
                        z.nframes++;
            }
            if (s->n == cap) {
                cap = cap ? 2 * cap : 16;
                s->site = poolstat_xrealloc(s->site, cap * sizeof *s->site);
            }
            s->site[s->n++] = z;
        } else if (!strcmp(l, "sampling")) {
            snprintf(s->sampling, sizeof s->sampling, "%s", rest);
        } else if (!strcmp(l, "order.live")) {
            parse_ids(rest, s->order_live, &s->nlive);
        } else if (!strcmp(l, "order.total")) {
            parse_ids(rest, s->order_total, &s->ntotal);
        } else {
            static const char *const key[] = {"pid", "sample_bytes", "sites", "samples_live",
                                              "samples_total", "samples_dropped", "live_objects",
                                              "live_bytes", "total_objects", "total_bytes"};
            uint64_t *val[] = {&s->pid, &s->sample_bytes, &s->nsites, &s->samples_live,
                               &s->samples_total, &s->dropped, &s->live_objects, &s->live_bytes,
                               &s->total_objects, &s->total_bytes};
            for (size_t k = 0; k < sizeof key / sizeof key[0]; k++)
                if (!strcmp(l, key[k]))
                    parse_u64(rest, val[k]);
        }
    }
}

static const struct site *find_site(const struct sites *s, uint64_t id)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->site[i].id == id)
            return &s->site[i];
    return NULL;
}

/* ---- symbols ------------------------------------------------------------------------------ */

/* The target wrote its maps: a path there may since have been unlinked or
 * renamed and replaced by a FIFO (open would block), a symlink (to anything
 * root can read) or a device. So a path from maps is never opened as
 * written. The object is reached through /proc/PID/map_files/START-END (the
 * very inode mapped; only CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE may follow
 * it, so in practice root), else through /proc/PID/root with no symlink
 * followed; either way first as an O_PATH handle (opening that has no side
 * effect and cannot block), kept only if it is a regular file with the
 * mapping's inode, and only then opened for reading, non-blocking.
 * addr2line reads it in a child that holds only that fd, runs as the target's
 * uid when root symbolizes another user's process, and is killed at a
 * deadline. */
#define A2L_DEADLINE_MS 10000   /* one addr2line run */
#define A2L_BUDGET_MS   30000   /* every run of one `poolstat sites` */
#define A2L_OUT_MAX     (4u << 20)

struct mapping {
    uint64_t start, end, offset, inode;
    unsigned dev_major, dev_minor;
    int fd;                 /* -2: not opened yet; -1: not safe to read */
    char path[4200];        /* PATH_MAX and " (deleted)" */
};

/* Who addr2line runs as: drop is set when root symbolizes another user's
 * process; none is set when addr2line must not run at all. */
struct a2l_user {
    int drop, none;
    uid_t uid;
    gid_t gid;
};

/* One number in base `base` at *q, which must be followed by `sep`; *q is
 * moved past the separator. 0, or -1 if there is no such number. */
static int field_u64(char **q, int base, char sep, uint64_t *out)
{
    char *end;
    if (!isxdigit((unsigned char)**q))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(*q, &end, base);
    if (errno || end == *q || *end != sep)
        return -1;
    *out = v;
    *q = end + 1;
    return 0;
}

/* The file-backed mappings of process pid, from /proc/PID/maps (whole
 * lines, however long a path is: a cut line must not read as a forged one).
 * NULL and *n = 0 if it cannot be read. */
static struct mapping *read_maps(pid_t pid, size_t *n)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/maps", (int)pid);
    *n = 0;
    FILE *f = fopen(p, "re");
    if (!f)
        return NULL;
    struct mapping *m = NULL;
    size_t cap = 0, linecap = 0;
    char *line = NULL;
    while (getline(&line, &linecap, f) > 0) {
        /* START-END PERMS OFFSET MAJOR:MINOR INODE PATH */
        struct mapping z = {.fd = -2};
        uint64_t major, minor;
        char *q = line;
        if (field_u64(&q, 16, '-', &z.start) || field_u64(&q, 16, ' ', &z.end))
            continue;
        q += strcspn(q, " ");   /* the permissions */
        if (*q++ != ' ' || field_u64(&q, 16, ' ', &z.offset) || field_u64(&q, 16, ':', &major) ||
            field_u64(&q, 16, ' ', &minor) || field_u64(&q, 10, ' ', &z.inode) ||
            major > UINT_MAX || minor > UINT_MAX)
            continue;
        z.dev_major = (unsigned)major;
        z.dev_minor = (unsigned)minor;
        q += strspn(q, " ");
        if (*q != '/')
            continue;
        q[strcspn(q, "\n")] = '\0';
        snprintf(z.path, sizeof z.path, "%s", q);
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            m = poolstat_xrealloc(m, cap * sizeof *m);
        }
        m[(*n)++] = z;
    }
    free(line);
    fclose(f);
    return m;
}

/* 1 if st is a regular file and the one m maps. The device is compared only
 * on a path walk by root (btrfs and overlayfs may report another st_dev than
 * maps; map_files is the mapped inode by construction, and a user walking to
 * his own process's files risks nothing but a wrong name). */
static int is_mapped_file(const struct stat *st, const struct mapping *m, int check_dev)
{
    return S_ISREG(st->st_mode) && (uint64_t)st->st_ino == m->inode &&
           (!check_dev || (major(st->st_dev) == m->dev_major && minor(st->st_dev) == m->dev_minor));
}

/* Opens the file m maps in process pid for reading, the safe way described
 * above. A read-only, non-blocking, close-on-exec fd, or -1 (the frames in
 * m are then named by address). */
static int open_mapped(pid_t pid, const struct mapping *m)
{
    char p[4300];
    int check_dev = 0;
    snprintf(p, sizeof p, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)pid, m->start, m->end);
    int h = open(p, O_PATH | O_CLOEXEC);
    if (h < 0) {
        snprintf(p, sizeof p, "/proc/%d/root", (int)pid);
        int root = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
            return -1;
        struct open_how how = {.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
                               .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS |
                                          RESOLVE_NO_MAGICLINKS};
        h = (int)syscall(SYS_openat2, root, m->path, &how, sizeof how);
        /* Before openat2 (Linux 5.6) only a user's own files are walked to. */
        if (h < 0 && errno == ENOSYS && geteuid() != 0)
            h = openat(root, m->path + 1, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        close(root);
        check_dev = geteuid() == 0;
    }
    if (h < 0)
        return -1;
    struct stat st;
    int fd = -1;
    if (fstat(h, &st) == 0 && is_mapped_file(&st, m, check_dev)) {
        /* Reopening the handle opens that inode, whatever the paths are now. */
        snprintf(p, sizeof p, "/proc/self/fd/%d", h);
        fd = open(p, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd >= 0 && (fstat(fd, &st) != 0 || !is_mapped_file(&st, m, check_dev))) {
            close(fd);
            fd = -1;
        }
    }
    close(h);
    return fd;
}

/* The address inside the ELF file (open as fd, mapped by m) of pc: absolute
 * in an executable (ET_EXEC), else the file offset carried to its segment's
 * virtual address. Reads only the headers, at most 256 of them. 0, or -1 if
 * it is no ELF file of ours. */
static int elf_address(int fd, const struct mapping *m, uint64_t pc, uint64_t *out)
{
    Elf64_Ehdr eh;
    uint64_t off = pc - m->start + m->offset;
    if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64)
        return -1;
    if (eh.e_type == ET_EXEC) {
        *out = pc;
        return 0;
    }
    for (unsigned i = 0; i < eh.e_phnum && i < 256; i++) {
        Elf64_Phdr ph;
        if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + i * sizeof ph)) != (ssize_t)sizeof ph)
            return -1;
        if (ph.p_type == PT_LOAD && off >= ph.p_offset && off < ph.p_offset + ph.p_filesz) {
            *out = ph.p_vaddr + (off - ph.p_offset);
            return 0;
        }
    }
    return -1;
}

/* The child's exit status when addr2line is not found (execvp: ENOENT);
 * any other failure before or at exec is 126. */
#define A2L_NOT_FOUND 127

/* In the forked child: stdin and stderr /dev/null, stdout the pipe, the
 * object as fd 3 and no other fd; the target's uid if u->drop (each step
 * checked, and checked to be irreversible); then exec. Never returns. */
static void a2l_child(int out, int obj, const struct a2l_user *u, char **argv)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    /* Above 3 first, so that no dup2 below overwrites one still needed. */
    out = fcntl(out, F_DUPFD_CLOEXEC, 10);
    obj = fcntl(obj, F_DUPFD_CLOEXEC, 10);
    null = null < 0 ? -1 : fcntl(null, F_DUPFD_CLOEXEC, 10);
    if (out < 0 || obj < 0 || null < 0 || dup2(null, 0) != 0 || dup2(out, 1) != 1 ||
        dup2(null, 2) != 2 || dup2(obj, 3) != 3)
        _exit(126);
    close_range(4, ~0u, 0);
    if (u->drop) {
        if (setgroups(0, NULL) != 0 || setresgid(u->gid, u->gid, u->gid) != 0 ||
            setresuid(u->uid, u->uid, u->uid) != 0 || setresuid(0, 0, 0) == 0)
            _exit(126);
    }
    unsetenv("DEBUGINFOD_URLS");   /* the object is a stranger's: no network on its behalf */
    execvp("addr2line", argv);
    _exit(errno == ENOENT ? A2L_NOT_FOUND : 126);
}

/* Runs `addr2line -f -C -e /proc/self/fd/3 ADDR...` on the object open as
 * fd, for syms[idx[0..n)], and stores the function and file:line of each
 * ("??" answers are left NULL). The child is killed at deadline (a
 * CLOCK_MONOTONIC time in ms); -1 then (what it said before is kept), -2 if
 * there is no addr2line to run (not on PATH), else 0. */
static int addr2line(int fd, const struct a2l_user *u, struct sym *syms, const size_t *idx,
                     size_t n, int64_t deadline)
{
    char **argv = poolstat_xmalloc((n + 6) * sizeof *argv);
    char (*hexs)[24] = poolstat_xmalloc(n * sizeof *hexs);
    size_t a = 0;
    argv[a++] = "addr2line";
    argv[a++] = "-f";
    argv[a++] = "-C";
    argv[a++] = "-e";
    argv[a++] = "/proc/self/fd/3";
    for (size_t i = 0; i < n; i++) {
        snprintf(hexs[i], sizeof hexs[i], "0x%" PRIx64, syms[idx[i]].offset);
        argv[a++] = hexs[i];
    }
    argv[a] = NULL;
    int pfd[2], rc = 0;
    size_t cap = 1 << 16, len = 0;
    char *buf = NULL;
    if (pipe2(pfd, O_CLOEXEC) != 0)
        goto out;
    fflush(stdout);
    pid_t child = fork();
    if (child == 0)
        a2l_child(pfd[1], fd, u, argv);
    close(pfd[1]);
    if (child < 0) {
        close(pfd[0]);
        goto out;
    }
    buf = poolstat_xmalloc(cap);
    for (;;) {
        int64_t left = deadline - poolstat_now_ms();
        struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
        int r = left > 0 ? poll(&pf, 1, (int)left) : 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            rc = -1;
        if (r <= 0)
            break;
        if (len + 1 == cap) {
            if (cap >= A2L_OUT_MAX)
                break;
            cap *= 2;
            buf = poolstat_xrealloc(buf, cap);
        }
        ssize_t k = read(pfd[0], buf + len, cap - 1 - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        len += (size_t)k;
    }
    close(pfd[0]);
    /* Not reaped yet: the pid is still this child's. A child that could not
     * exec has exited (its end of the pipe closed then): its status stays. */
    kill(child, SIGKILL);
    int st = 0;
    if (waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == A2L_NOT_FOUND)
        rc = -2;
    buf[len] = '\0';
    char *save = NULL, *func = strtok_r(buf, "\n", &save), *file = strtok_r(NULL, "\n", &save);
    for (size_t i = 0; i < n && func && file; i++) {
        struct sym *y = &syms[idx[i]];
        if (strcmp(func, "??") != 0)
            y->func = strdup(func);
        if (strncmp(file, "??", 2) != 0)
            y->file = strdup(file);
        func = strtok_r(NULL, "\n", &save);
        file = strtok_r(NULL, "\n", &save);
    }
out:
    free(buf);
    free(hexs);
    free(argv);
    return rc;
}

/* Who addr2line may run as for process pid (see struct a2l_user). */
static struct a2l_user a2l_user_for(pid_t pid)
{
    struct a2l_user u = {0};
    if (geteuid() != 0)
        return u;   /* the server admitted us: the target runs as our uid */
    if (poolstat_owner(pid, &u.uid, &u.gid) != 0) {
        fprintf(stderr, "poolstat: cannot read the owner of process %d: its frames are named by "
                        "address only\n", (int)pid);
        u.none = 1;
    }
    u.drop = !u.none && u.uid != 0;
    return u;
}

/* Names every frame of every site listed. */
static void symbolize(struct sites *s)
{
    for (size_t i = 0; i < s->n; i++)
        for (size_t k = 0; k < s->site[i].nframes; k++) {
            uint64_t a = s->site[i].frame[k];
            size_t j = 0;
            while (j < s->nsym && s->sym[j].addr != a)
                j++;
            if (j < s->nsym)
                continue;
            s->sym = poolstat_xrealloc(s->sym, (s->nsym + 1) * sizeof *s->sym);
            s->sym[s->nsym++] = (struct sym){.addr = a};
        }
    if (!s->nsym)
        return;
    pid_t pid = (pid_t)s->pid;
    size_t nmap = 0;
    struct mapping *maps = read_maps(pid, &nmap);
    struct a2l_user u = a2l_user_for(pid);
    size_t *idx = poolstat_xmalloc((s->nsym + 1) * sizeof *idx);
    size_t *mi = poolstat_xmalloc((s->nsym + 1) * sizeof *mi);
    char *done = calloc(s->nsym + 1, 1);
    if (!done)
        exit(1);
    for (size_t j = 0; j < s->nsym; j++) {
        uint64_t pc = s->sym[j].addr - 1;   /* inside the call instruction */
        size_t m = 0;
        while (m < nmap && !(pc >= maps[m].start && pc < maps[m].end))
            m++;
        done[j] = 1;   /* named by object and offset only, unless addr2line runs */
        if (m == nmap)
            continue;
        mi[j] = m;
        s->sym[j].object = strdup(maps[m].path);
        s->sym[j].offset = pc - maps[m].start + maps[m].offset;
        if (maps[m].fd == -2)
            maps[m].fd = open_mapped(pid, &maps[m]);
        if (maps[m].fd >= 0 && elf_address(maps[m].fd, &maps[m], pc, &s->sym[j].offset) == 0)
            done[j] = u.none;
    }
    /* One addr2line run per file, in batches, within one budget. */
    int64_t budget_end = poolstat_now_ms() + A2L_BUDGET_MS;
    for (size_t j = 0; j < s->nsym; j++) {
        if (done[j])
            continue;
        const struct mapping *mj = &maps[mi[j]];
        size_t n = 0;
        for (size_t k = j; k <= s->nsym; k++) {
            if (k < s->nsym && !done[k] && maps[mi[k]].inode == mj->inode &&
                !strcmp(maps[mi[k]].path, mj->path)) {
                idx[n++] = k;
                done[k] = 1;
            }
            if (n && (n == A2L_BATCH || k == s->nsym)) {
                int64_t now = poolstat_now_ms();
                int r = now >= budget_end
                            ? -1
                            : addr2line(mj->fd, &u, s->sym, idx, n,
                                        now + A2L_DEADLINE_MS < budget_end ? now + A2L_DEADLINE_MS
                                                                           : budget_end);
                if (r == -2) {
                    /* Said once; no other object will find it either. */
                    fprintf(stderr, "poolstat: addr2line not found (Debian package binutils): "
                                    "frames are shown by address\n");
                    memset(done, 1, s->nsym);
                    break;
                }
                if (r != 0) {
                    char name[sizeof mj->path];
                    snprintf(name, sizeof name, "%s", mj->path);
                    poolstat_printable(name);
                    fprintf(stderr, "poolstat: addr2line did not finish in time on %s; frames "
                                    "there left without a name are shown by address\n", name);
                }
                n = 0;
            }
        }
    }
    for (size_t m = 0; m < nmap; m++)
        if (maps[m].fd >= 0)
            close(maps[m].fd);
    free(done);
    free(mi);
    free(idx);
    free(maps);
}

static const struct sym *sym_of(const struct sites *s, uint64_t addr)
{
    for (size_t j = 0; j < s->nsym; j++)
        if (s->sym[j].addr == addr)
            return &s->sym[j];
    return NULL;
}

/* ---- output -------------------------------------------------------------------------------- */

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static void print_frame(const struct sites *s, uint64_t addr)
{
    const struct sym *y = sym_of(s, addr);
    printf("        ");
    if (y && y->func)
        printf("%s", y->func);
    else
        printf("0x%" PRIx64, addr);
    if (y && y->file)
        printf("  %s", y->file);
    else if (y && y->object)
        printf("  %s+0x%" PRIx64, base_name(y->object), y->offset);
    printf("\n");
}

static void bytes(struct sink *o, uint64_t v)
{
    sink_bytes(o, v);
}

/* "1 object", "2 objects". */
static void count(struct sink *o, uint64_t n, const char *noun)
{
    sink_u64(o, n);
    sink_str(o, " ");
    sink_str(o, noun);
    if (n != 1)
        sink_str(o, "s");
}

static void print_list(const struct sites *s, const char *title, const uint64_t *ids, size_t n,
                       int by_live, const uint64_t *shown, size_t nshown)
{
    printf("\n%s\n", title);
    if (!n)
        printf("    (none)\n");
    for (size_t i = 0; i < n; i++) {
        const struct site *z = find_site(s, ids[i]);
        if (!z)
            continue;
        struct sink o;
        sink_init(&o, 1, 0);
        fflush(stdout);
        sink_str(&o, "  #");
        sink_u64(&o, i + 1);
        sink_str(&o, by_live ? "  live " : "  total ");
        bytes(&o, by_live ? z->live_bytes : z->total_bytes);
        sink_str(&o, " in ");
        count(&o, by_live ? z->live_objects : z->total_objects, "object");
        sink_str(&o, by_live ? "; total " : "; live ");
        bytes(&o, by_live ? z->total_bytes : z->live_bytes);
        sink_str(&o, " in ");
        count(&o, by_live ? z->total_objects : z->live_objects, "object");
        sink_str(&o, " (");
        count(&o, z->total_samples, "sample");
        sink_str(&o, ", site ");
        sink_u64(&o, z->id);
        sink_str(&o, ")\n");
        sink_flush(&o);
        int again = 0;
        for (size_t k = 0; k < nshown; k++)
            again |= shown[k] == z->id;
        if (again) {
            printf("        (the stack of site %" PRIu64 " above)\n", z->id);
        } else if (!z->nframes) {
            printf("        (stack not recorded: the stack table was full or busy)\n");
        } else {
            for (size_t k = 0; k < z->nframes; k++)
                print_frame(s, z->frame[k]);
        }
    }
}

static void json_str(const char *v)
{
    putchar('"');
    for (; v && *v; v++) {
        unsigned char c = (unsigned char)*v;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 32 || c >= 127)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_json(const struct sites *s)
{
    printf("{\"pid\": %" PRIu64 ", \"sample_bytes\": %" PRIu64 ", \"sites\": %" PRIu64
           ", \"samples_live\": %" PRIu64 ", \"samples_total\": %" PRIu64
           ", \"samples_dropped\": %" PRIu64 ", \"live_objects\": %" PRIu64
           ", \"live_bytes\": %" PRIu64 ", \"total_objects\": %" PRIu64 ", \"total_bytes\": %" PRIu64,
           s->pid, s->sample_bytes, s->nsites, s->samples_live, s->samples_total, s->dropped,
           s->live_objects, s->live_bytes, s->total_objects, s->total_bytes);
    const uint64_t *lists[] = {s->order_live, s->order_total};
    const size_t counts[] = {s->nlive, s->ntotal};
    const char *names[] = {"by_live", "by_total"};
    for (int l = 0; l < 2; l++) {
        printf(", \"%s\": [", names[l]);
        for (size_t i = 0; i < counts[l]; i++)
            printf("%s%" PRIu64, i ? ", " : "", lists[l][i]);
        printf("]");
    }
    printf(", \"site_list\": [");
    for (size_t i = 0; i < s->n; i++) {
        const struct site *z = &s->site[i];
        printf("%s\n  {\"site\": %" PRIu64 ", \"live_objects\": %" PRIu64 ", \"live_bytes\": %" PRIu64
               ", \"total_objects\": %" PRIu64 ", \"total_bytes\": %" PRIu64
               ", \"live_samples\": %" PRIu64 ", \"total_samples\": %" PRIu64 ", \"frames\": [",
               i ? "," : "", z->id, z->live_objects, z->live_bytes, z->total_objects,
               z->total_bytes, z->live_samples, z->total_samples);
        for (size_t k = 0; k < z->nframes; k++) {
            const struct sym *y = sym_of(s, z->frame[k]);
            printf("%s{\"address\": \"0x%" PRIx64 "\", \"function\": ", k ? ", " : "",
                   z->frame[k]);
            if (y && y->func)
                json_str(y->func);
            else
                printf("null");
            printf(", \"file\": ");
            if (y && y->file)
                json_str(y->file);
            else
                printf("null");
            printf(", \"object\": ");
            if (y && y->object)
                json_str(y->object);
            else
                printf("null");
            printf("}");
        }
        printf("]}");
    }
    printf("\n]}\n");
}

/* The message when a process does not sample; 1 (the exit status). state
 * is the server's word: made printable here. */
static int not_sampling(const struct target *t, const char *server_state)
{
    char who[320], comm[64] = "", state[160];
    snprintf(state, sizeof state, "%s", server_state);
    poolstat_printable(state);
    if (t->pid)
        poolstat_comm(t->pid, comm, sizeof comm);
    if (t->pid && comm[0])
        snprintf(who, sizeof who, "process %d (%s)", (int)t->pid, comm);
    else if (t->pid)
        snprintf(who, sizeof who, "process %d", (int)t->pid);
    else
        snprintf(who, sizeof who, "%s", t->path);
    fprintf(stderr,
            "poolstat: %s has no allocation samples: sampling %s; start it with "
            "POOLALLOC_SAMPLE=512k (mean bytes between samples)\n",
            who, state[0] ? state : "not reported");
    return 1;
}

int poolstat_sites(const struct target *t, int json)
{
    char err[POOLSTAT_ERR_MAX], *body;
    size_t len;
    if (poolstat_fetch_body(t, "sites", &body, &len, err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct sites s = {0};
    parse_sites(body, &s);
    free(body);
    if (strcmp(s.sampling, "on") != 0) {
        free(s.site);
        return not_sampling(t, s.sampling);
    }
    /* The pid we resolved, not the one the reply claims: its maps and its
     * owner decide which files are read and as whom. */
    if (t->pid)
        s.pid = (uint64_t)t->pid;
    symbolize(&s);
    if (!json)
        for (size_t j = 0; j < s.nsym; j++) {
            char *v[] = {s.sym[j].func, s.sym[j].file, s.sym[j].object};
            for (size_t k = 0; k < 3; k++)
                if (v[k])
                    poolstat_printable(v[k]);
        }
    if (json) {
        print_json(&s);
    } else {
        char comm[64] = "";
        poolstat_comm((pid_t)s.pid, comm, sizeof comm);
        struct sink o;
        sink_init(&o, 1, 0);
        sink_str(&o, "poolstat sites ");
        sink_u64(&o, s.pid);
        if (comm[0]) {
            sink_str(&o, " (");
            sink_str(&o, comm);
            sink_str(&o, ")");
        }
        sink_str(&o, " - one sample every ");
        bytes(&o, s.sample_bytes);
        sink_str(&o, " allocated, on average - ");
        sink_u64(&o, s.nsites);
        sink_str(&o, " sites, ");
        sink_u64(&o, s.samples_live);
        sink_str(&o, " of ");
        sink_u64(&o, s.samples_total);
        sink_str(&o, " samples live, ");
        sink_u64(&o, s.dropped);
        sink_str(&o, " dropped\nestimates: live ");
        bytes(&o, s.live_bytes);
        sink_str(&o, " in ");
        sink_u64(&o, s.live_objects);
        sink_str(&o, " objects; allocated since start ");
        bytes(&o, s.total_bytes);
        sink_str(&o, " in ");
        sink_u64(&o, s.total_objects);
        sink_str(&o, " objects\n");
        sink_flush(&o);
        print_list(&s, "top sites by live bytes", s.order_live, s.nlive, 1, NULL, 0);
        print_list(&s, "top sites by bytes allocated since start", s.order_total, s.ntotal, 0,
                   s.order_live, s.nlive);
    }
    for (size_t j = 0; j < s.nsym; j++) {
        free(s.sym[j].func);
        free(s.sym[j].file);
        free(s.sym[j].object);
    }
    free(s.sym);
    free(s.site);
    return fflush(stdout) == 0 ? 0 : 1;
}

int poolstat_heap(const struct target *t)
{
    char err[POOLSTAT_ERR_MAX], *body;
    size_t len;
    if (poolstat_fetch_body(t, "heap", &body, &len, err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    /* "sampling on", then the file, one `heap LINE` per line. */
    char state[160] = "";
    int rc = 0;
    for (char *l = body, *nl; *l && rc == 0; l = nl + 1) {
        nl = strchr(l, '\n');
        if (!nl)
            nl = l + strlen(l);
        size_t n = (size_t)(nl - l);
        if (n >= 9 && !strncmp(l, "sampling ", 9))
            snprintf(state, sizeof state, "%.*s", (int)(n - 9), l + 9);
        else if (n >= 5 && !strncmp(l, "heap ", 5) && !strcmp(state, "on")) {
            /* Plain text for pprof, which needs no control character but the
             * newlines; the maps paths in it are the target's to choose. */
            char keep = *nl;
            *nl = '\0';
            poolstat_printable(l + 5);
            *nl = keep;
            rc = fwrite(l + 5, 1, n - 5, stdout) != n - 5 || putchar('\n') == EOF;
        }
        if (!*nl)
            break;
    }
    free(body);
    if (strcmp(state, "on") != 0)
        return not_sampling(t, state);
    if (rc || fflush(stdout) != 0) {
        fprintf(stderr, "poolstat: cannot write the profile: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}
