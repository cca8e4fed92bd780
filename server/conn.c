/* SPDX-License-Identifier: MIT */
/* conn.c - one client of the stats socket (see conn.h). Nothing here calls
 * malloc. */
#define _GNU_SOURCE
#include "conn.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>

#include "reply.h"

uint64_t conn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Reads and drops what the client sent beyond its request (bounded): a unix
 * socket closed with unread data resets the peer, which may then lose the
 * reply it has not read yet. */
static void drain(int fd)
{
    static char scratch[4096];
    for (int i = 0; i < 16; i++)
        if (recv(fd, scratch, sizeof scratch, MSG_DONTWAIT) <= 0)
            break;
}

void conn_close(struct conn *c)
{
    if (fd_still_ours(&c->o)) {
        drain(c->o.fd);
        shutdown(c->o.fd, SHUT_WR);
    }
    fd_release(&c->o);
    c->len = 0;
    if (c->out)
        munmap(c->out, c->out_cap);
    c->out = NULL;
    c->out_len = c->out_sent = c->out_cap = 0;
}

void conn_fail(struct conn *c, const char *why)
{
    if (fd_still_ours(&c->o) && !c->out_sent) {
        struct sink o;
        sink_init(&o, c->o.fd, 1);
        proto_reply_error(&o, why);
        /* Never wait for a client that is not reading. */
        send(c->o.fd, o.buf, o.len, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    conn_close(c);
}

void conn_write(struct conn *c)
{
    if (!fd_still_ours(&c->o)) {
        conn_close(c);   /* forgets the descriptor: the program's now */
        return;
    }
    while (c->out_sent < c->out_len) {
        ssize_t n = send(c->o.fd, c->out + c->out_sent, c->out_len - c->out_sent,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0)
            break;
        c->out_sent += (size_t)n;
    }
    conn_close(c);
}

/* The whole request is in: renders the reply into the connection's own
 * memory and starts sending it. The client has SERVER_REQUEST_MS more to
 * read it, as it had to send its request. */
static void conn_answer(struct conn *c, const struct reply_server *srv)
{
    static struct sink o;   /* 4 KiB: off the thread's small stack */
    reply_render(&o, c->buf, c->len, srv);
    if (o.failed) {
        if (o.mem)
            munmap(o.mem, o.mem_cap);
        conn_fail(c, "the reply is larger than the server sends (8 MiB) or memory ran out; "
                     "ask for less (sites instead of heap)");
        return;
    }
    c->out = o.mem;
    c->out_len = o.mem_len;
    c->out_cap = o.mem_cap;
    c->out_sent = 0;
    c->deadline_ms = conn_now_ms() + SERVER_REQUEST_MS;
    conn_write(c);
}

void conn_read(struct conn *c, const struct reply_server *srv)
{
    if (!fd_still_ours(&c->o)) {
        conn_close(c);   /* forgets the descriptor: the program's now */
        return;
    }
    for (;;) {
        if (c->len == sizeof c->buf) {
            conn_fail(c, "request too long (a request is one short line); try help");
            return;
        }
        ssize_t n = recv(c->o.fd, c->buf + c->len, sizeof c->buf - c->len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            conn_close(c);
            return;
        }
        size_t old = c->len;
        c->len += (size_t)n;
        int eof = n == 0;
        for (size_t i = old; i < c->len; i++)
            if (c->buf[i] == '\n') {
                c->len = i + 1;
                eof = 1;
                break;
            }
        if (eof) {
            conn_answer(c, srv);
            return;
        }
    }
}
