/* SPDX-License-Identifier: MIT */
/*
 * sink.h - an output sink that never allocates: a fixed buffer flushed with
 * write(2) or send(2), or collected into an anonymous mapping. The library's
 * socket server writes its replies through one (proto.h, heapprof.c), and
 * poolstat its output (render.h); nothing here calls malloc or stdio.
 */
#ifndef POOLALLOC_SINK_H
#define POOLALLOC_SINK_H

#include <stddef.h>
#include <stdint.h>

/* A sink writes to a descriptor (sink_init), or collects into memory
 * (sink_init_mem): then sink_flush appends buf to mem, an anonymous mapping
 * grown with mremap, so that the stats server can send a large reply as its
 * client reads it, without malloc and without waiting. Invariants of the
 * memory mode: mem_len <= mem_cap <= mem_max; mem == NULL iff mem_cap == 0. */
struct sink {
    int fd;        /* -1 in memory mode */
    int sock;      /* 1: send(MSG_NOSIGNAL), never raising SIGPIPE; 0: write(2) */
    int failed;    /* a write failed (or memory ran out): everything after it is dropped */
    size_t len;
    char buf[4096];
    char *mem;     /* memory mode: the bytes flushed so far, mem_len of them */
    size_t mem_len, mem_cap;
    size_t mem_max;   /* 0: descriptor mode */
};

void sink_init(struct sink *o, int fd, int sock);
/* Memory mode: collects at most max bytes (> 0). After the last sink_flush,
 * the caller owns o->mem (o->mem_cap bytes, munmap it) even when o->failed:
 * a reply that would pass max, or a mapping the kernel refuses, sets failed. */
void sink_init_mem(struct sink *o, size_t max);
void sink_mem(struct sink *o, const char *s, size_t n);
void sink_str(struct sink *o, const char *s);
void sink_u64(struct sink *o, uint64_t v);
/* Right-aligned in a field of the given width (left-aligned if width < 0). */
void sink_u64w(struct sink *o, uint64_t v, int width);
void sink_strw(struct sink *o, const char *s, int width);
/* s with control characters and bytes >= 0x7f replaced by '?'. */
void sink_printable(struct sink *o, const char *s);
/* Writes what is buffered (retrying short writes and EINTR), or appends it
 * to mem in memory mode. Returns 0, or -1 if any write failed. */
int sink_flush(struct sink *o);

#endif
