/* SPDX-License-Identifier: MIT */
/* maps.c - a target's /proc/PID/maps read strictly, the objects behind its
 * mappings opened without trusting their paths, and addresses carried into
 * those objects' ELF files (see maps.h). */
#define _GNU_SOURCE
#include <ctype.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "maps.h"
#include "poolstat.h"

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
struct mapping *maps_read(pid_t pid, size_t *n)
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

/* Opens the file m maps in process pid for reading, the safe way maps.h
 * describes. A read-only, non-blocking, close-on-exec fd, or -1 (the frames in
 * m are then named by address). */
int maps_open(pid_t pid, const struct mapping *m)
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
int maps_elf_address(int fd, const struct mapping *m, uint64_t pc, uint64_t *out)
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
