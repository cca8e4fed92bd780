/* SPDX-License-Identifier: MIT */
/*
 * log.h - formatting without malloc or stdio.
 *
 * A struct logbuf is a fixed buffer on the caller's stack; the helpers append
 * text and numbers and log_flush() writes it with one write(2). Output longer
 * than the buffer is cut, never overflowed. Used by the exit summary, the
 * warnings of the option parser and the verbose log: everything that must
 * work while the allocator itself is half-initialised.
 */
#ifndef POOLALLOC_LOG_H
#define POOLALLOC_LOG_H

#include <stddef.h>
#include <stdint.h>

struct logbuf {
    size_t len;
    char buf[1024];
};

void log_str(struct logbuf *b, const char *s);
void log_mem(struct logbuf *b, const char *s, size_t n);
void log_u64(struct logbuf *b, uint64_t v);
/* Writes v in decimal to out (at least 20 bytes, not NUL-terminated); returns
 * the length. Shared with wire/sink.c. */
size_t log_u64_digits(uint64_t v, char *out);
void log_hex(struct logbuf *b, uint64_t v);
/* Right-aligns v in a field of the given width. */
void log_u64w(struct logbuf *b, uint64_t v, int width);
/* Appends v/scale with one decimal, e.g. 1536 KiB as "1.5". */
void log_fixed1(struct logbuf *b, uint64_t v, uint64_t scale);
/* Writes the buffer to fd (retrying short writes and EINTR), then empties it. */
void log_flush(struct logbuf *b, int fd);

/* One line "poolalloc: <msg>\n" on stderr. */
void log_line(const char *msg);

#endif
