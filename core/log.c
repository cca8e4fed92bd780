/* SPDX-License-Identifier: MIT */
/* log.c - see log.h. */
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

void log_mem(struct logbuf *b, const char *s, size_t n)
{
    size_t room = sizeof b->buf - b->len;
    if (n > room)
        n = room;
    for (size_t i = 0; i < n; i++)
        b->buf[b->len + i] = s[i];
    b->len += n;
}

void log_str(struct logbuf *b, const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    log_mem(b, s, n);
}

size_t log_u64_digits(uint64_t v, char *out)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

void log_u64(struct logbuf *b, uint64_t v)
{
    char d[24];
    log_mem(b, d, log_u64_digits(v, d));
}

void log_hex(struct logbuf *b, uint64_t v)
{
    char d[18];
    size_t n = 0;
    d[n++] = '0';
    d[n++] = 'x';
    int started = 0;
    for (int shift = 60; shift >= 0; shift -= 4) {
        unsigned nib = (unsigned)(v >> shift) & 15;
        if (nib || started || shift == 0) {
            d[n++] = "0123456789abcdef"[nib];
            started = 1;
        }
    }
    log_mem(b, d, n);
}

static void pad(struct logbuf *b, size_t have, int width)
{
    while ((int)have < width) {
        log_mem(b, " ", 1);
        have++;
    }
}

void log_u64w(struct logbuf *b, uint64_t v, int width)
{
    char d[24];
    size_t n = log_u64_digits(v, d);
    pad(b, n, width);
    log_mem(b, d, n);
}

void log_fixed1(struct logbuf *b, uint64_t v, uint64_t scale)
{
    uint64_t tenths = (v * 10 + scale / 2) / scale;
    log_u64(b, tenths / 10);
    log_mem(b, ".", 1);
    log_u64(b, tenths % 10);
}

void log_flush(struct logbuf *b, int fd)
{
    size_t off = 0;
    int saved = errno;
    while (off < b->len) {
        ssize_t w = write(fd, b->buf + off, b->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    b->len = 0;
    errno = saved;
}

void log_line(const char *msg)
{
    struct logbuf b = {0};
    log_str(&b, "poolalloc: ");
    log_str(&b, msg);
    log_str(&b, "\n");
    log_flush(&b, 2);
}

void util_assert_fail(const char *law, const char *expr, const char *file, int line)
{
    struct logbuf b = {0};
    log_str(&b, "poolalloc: law broken: ");
    log_str(&b, law);
    log_str(&b, ": ");
    log_str(&b, expr);
    log_str(&b, " (");
    log_str(&b, file);
    log_str(&b, ":");
    log_u64(&b, (uint64_t)line);
    log_str(&b, ")\n");
    log_flush(&b, 2);
    abort();
}
