/* SPDX-License-Identifier: MIT */
/* sink.c - the output sink (see sink.h). No malloc, no stdio. */
#define _GNU_SOURCE
#include "sink.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../core/log.h"

/* ---- sink ----------------------------------------------------------------------------- */

#define SINK_MEM_FIRST (64 * 1024)   /* first mapping of a memory sink: most replies fit */

void sink_init(struct sink *o, int fd, int sock)
{
    o->fd = fd;
    o->sock = sock;
    o->failed = 0;
    o->len = 0;
    o->mem = NULL;
    o->mem_len = o->mem_cap = o->mem_max = 0;
}

void sink_init_mem(struct sink *o, size_t max)
{
    sink_init(o, -1, 0);
    o->mem_max = max;
}

/* Makes room for `need` bytes in mem: maps it, or doubles it with mremap (up
 * to mem_max). -1 if that passes mem_max or the kernel refuses; mem is then
 * unchanged (still the caller's to unmap). */
static int sink_mem_room(struct sink *o, size_t need)
{
    if (need <= o->mem_cap)
        return 0;
    if (need > o->mem_max)
        return -1;
    size_t cap = o->mem_cap ? o->mem_cap : SINK_MEM_FIRST;
    while (cap < need)
        cap *= 2;
    if (cap > o->mem_max)
        cap = (o->mem_max + 4095) & ~(size_t)4095;
    void *p;
    if (!o->mem) {
        p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        /* A fork child does not get a copy of a reply in the making: nobody
         * there would unmap it. mremap keeps the flag. */
        if (p != MAP_FAILED)
            madvise(p, cap, MADV_DONTFORK);
    } else {
        p = mremap(o->mem, o->mem_cap, cap, MREMAP_MAYMOVE);
    }
    if (p == MAP_FAILED)
        return -1;
    o->mem = p;
    o->mem_cap = cap;
    return 0;
}

int sink_flush(struct sink *o)
{
    size_t off = 0;
    int saved = errno;
    if (o->mem_max) {
        if (!o->failed && sink_mem_room(o, o->mem_len + o->len) == 0) {
            for (size_t i = 0; i < o->len; i++)
                o->mem[o->mem_len + i] = o->buf[i];
            o->mem_len += o->len;
        } else {
            o->failed = 1;
        }
        o->len = 0;
        errno = saved;
        return o->failed ? -1 : 0;
    }
    while (!o->failed && off < o->len) {
        ssize_t w = o->sock ? send(o->fd, o->buf + off, o->len - off, MSG_NOSIGNAL)
                            : write(o->fd, o->buf + off, o->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            o->failed = 1;
        else
            off += (size_t)w;
    }
    o->len = 0;
    errno = saved;
    return o->failed ? -1 : 0;
}

void sink_mem(struct sink *o, const char *s, size_t n)
{
    while (n) {
        if (o->len == sizeof o->buf)
            sink_flush(o);
        size_t room = sizeof o->buf - o->len;
        size_t k = n < room ? n : room;
        for (size_t i = 0; i < k; i++)
            o->buf[o->len + i] = s[i];
        o->len += k;
        s += k;
        n -= k;
    }
}

static size_t slen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

void sink_str(struct sink *o, const char *s)
{
    sink_mem(o, s, slen(s));
}

void sink_u64(struct sink *o, uint64_t v)
{
    char d[24];
    sink_mem(o, d, log_u64_digits(v, d));
}

static void pad(struct sink *o, size_t have, int width)
{
    for (; (int)have < width; have++)
        sink_mem(o, " ", 1);
}

void sink_u64w(struct sink *o, uint64_t v, int width)
{
    char d[24];
    size_t n = log_u64_digits(v, d);
    if (width >= 0)
        pad(o, n, width);
    sink_mem(o, d, n);
    if (width < 0)
        pad(o, n, -width);
}

void sink_strw(struct sink *o, const char *s, int width)
{
    size_t n = slen(s);
    if (width >= 0)
        pad(o, n, width);
    sink_mem(o, s, n);
    if (width < 0)
        pad(o, n, -width);
}

void sink_printable(struct sink *o, const char *s)
{
    for (; *s; s++)
        sink_mem(o, (unsigned char)*s < 32 || (unsigned char)*s >= 127 ? "?" : s, 1);
}
