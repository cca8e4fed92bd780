/* SPDX-License-Identifier: MIT */
/*
 * sites.c - three allocation sites in known proportions, for the sampling
 * tests. Each site is its own function, never inlined, so it is a frame of
 * its own in every stack:
 *
 *   site_alpha   60 % of the bytes, 1000-byte objects (pools)
 *   site_beta    30 %, 48-byte objects (pools, many)
 *   site_gamma   10 %, 40000-byte objects (above POOLALLOC_MAX_SIZE: glibc)
 *
 * Commands on stdin, one per line; answers on stdout with write(2):
 *   alloc MIB        the three sites allocate MIB MiB between them, and hold it -> "ok"
 *   free SITE        frees what alpha, beta or gamma holds                   -> "ok"
 *   ping             -> "pong"
 * End of input or `quit`: exit 0 (after freeing everything). Prints "ready PID" first.
 * Every object is filled with a pattern and checked when freed (exit 4 if not).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct held {
    unsigned char **obj;
    size_t n, size;
    unsigned char fill;
};

static struct held alpha = {.fill = 0xa1}, beta = {.fill = 0xb2}, gamma_ = {.fill = 0xc3};

static void say(const char *s)
{
    size_t n = strlen(s);
    if (write(1, s, n) != (ssize_t)n || write(1, "\n", 1) != 1)
        _exit(3);
}

static void hold(struct held *h, size_t bytes, size_t size, void *(*get)(size_t))
{
    size_t n = bytes / size;
    h->obj = realloc(h->obj, (h->n + n) * sizeof *h->obj);
    if (!h->obj)
        _exit(5);
    for (size_t i = 0; i < n; i++) {
        unsigned char *p = get(size);
        if (!p)
            _exit(5);
        memset(p, h->fill, size);
        h->obj[h->n++] = p;
    }
    h->size = size;
}

static void release(struct held *h)
{
    for (size_t i = 0; i < h->n; i++) {
        unsigned char *p = h->obj[i];
        if (p[0] != h->fill || p[h->size - 1] != h->fill)
            _exit(4);
        free(p);
    }
    h->n = 0;
}

__attribute__((noinline)) void *site_alpha(size_t n)
{
    void *p = malloc(n);
    __asm__ volatile("" : "+r"(p));   /* a call, not a tail call: this frame stays */
    return p;
}

__attribute__((noinline)) void *site_beta(size_t n)
{
    void *p = malloc(n);
    __asm__ volatile("" : "+r"(p));
    return p;
}

__attribute__((noinline)) void *site_gamma(size_t n)
{
    void *p = malloc(n);
    __asm__ volatile("" : "+r"(p));
    return p;
}

/* One line from stdin into buf; 0 at end of input. */
static int get_line(char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        char c;
        ssize_t r = read(0, &c, 1);
        if (r <= 0)
            return n > 0;
        if (c == '\n')
            break;
        buf[n++] = c;
    }
    buf[n] = '\0';
    return 1;
}

int main(void)
{
    char line[256], ready[64] = "ready ";
    char *d = ready + strlen(ready);
    long pid = getpid(), div = 1;
    while (pid / div >= 10)
        div *= 10;
    for (; div; div /= 10)
        *d++ = (char)('0' + pid / div % 10);
    *d = '\0';
    say(ready);
    while (get_line(line, sizeof line)) {
        if (!strncmp(line, "alloc ", 6)) {
            size_t total = (size_t)atol(line + 6) << 20;
            hold(&alpha, total / 10 * 6, 1000, site_alpha);
            hold(&beta, total / 10 * 3, 48, site_beta);
            hold(&gamma_, total / 10, 40000, site_gamma);
            say("ok");
        } else if (!strcmp(line, "free alpha")) {
            release(&alpha);
            say("ok");
        } else if (!strcmp(line, "free beta")) {
            release(&beta);
            say("ok");
        } else if (!strcmp(line, "free gamma")) {
            release(&gamma_);
            say("ok");
        } else if (!strcmp(line, "ping")) {
            say("pong");
        } else if (!strcmp(line, "quit")) {
            break;
        } else {
            say("what");
        }
    }
    release(&alpha);
    release(&beta);
    release(&gamma_);
    free(alpha.obj);
    free(beta.obj);
    free(gamma_.obj);
    return 0;
}
