/* SPDX-License-Identifier: MIT */
/*
 * maps.h - the file-backed mappings of a target process (/proc/PID/maps),
 * the objects behind them opened safely, and an address turned into an
 * address of its ELF file. Used by symbols.c to name frames.
 *
 * The target wrote its maps: a path there may since have been unlinked or
 * renamed and replaced by a FIFO (open would block), a symlink (to anything
 * root can read) or a device. So a path from maps is never opened as
 * written. The object is reached through /proc/PID/map_files/START-END (the
 * very inode mapped; only CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE may follow
 * it, so in practice root), else through /proc/PID/root with no symlink
 * followed; either way first as an O_PATH handle (opening that has no side
 * effect and cannot block), kept only if it is a regular file with the
 * mapping's inode, and only then opened for reading, non-blocking.
 */
#ifndef POOLSTAT_MAPS_H
#define POOLSTAT_MAPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mapping {
    uint64_t start, end, offset, inode;
    unsigned dev_major, dev_minor;
    int fd;                 /* -2: not opened yet; -1: not safe to read */
    char path[4200];        /* PATH_MAX and " (deleted)" */
};

/* The file-backed mappings of process pid (the caller frees them); NULL, *n = 0 if unreadable. */
struct mapping *maps_read(pid_t pid, size_t *n);

/* The object m maps in pid, opened for reading the safe way above; an fd, or -1. */
int maps_open(pid_t pid, const struct mapping *m);

/* The address of pc inside the ELF file open as fd (mapped by m) in *out; 0, or -1. */
int maps_elf_address(int fd, const struct mapping *m, uint64_t pc, uint64_t *out);

#endif
