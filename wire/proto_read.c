/* SPDX-License-Identifier: MIT */
/* proto_read.c - the stats socket protocol, poolstat's half: a reply read back
 * into a snapshot (see proto_read.h). */
#include "proto_read.h"

#include <stddef.h>

/* The process figures a reply can name, and where they live. */
static const struct proto_field process_fields[] = {
    {"pid", offsetof(struct stats_snapshot, pid)},
    {"uptime_ms", offsetof(struct stats_snapshot, uptime_ms)},
#define X(name, kind, doc) {#name, offsetof(struct stats_snapshot, name)},
    STATS_PROCESS(X)
#undef X
};

#define COL_UNKNOWN (-1)
#define COL_INDEX   (-2)

static int streq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

void proto_reply_init(struct proto_reply *r)
{
    *r = (struct proto_reply){0};
    r->status = PROTO_PENDING;
}

/* A reply byte as it may be stored: a control character, DEL or a byte >= 0x80
 * (C1 controls on 8-bit terminals) becomes '?', the convention of
 * sink_printable(). Every string a reply carries is another process's text and
 * ends up on an operator's terminal: it is made harmless where it is stored. */
static char printable(char c)
{
    unsigned char u = (unsigned char)c;
    return u < 32 || u >= 127 ? '?' : c;
}

/* Stores src, cut to cap - 1 bytes and made printable, NUL-terminated. */
static void copy(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++)
        dst[i] = printable(src[i]);
    dst[i] = '\0';
}

/* Next space-separated word of *p, NUL-terminated in place; NULL at the end. */
static char *word(char **p)
{
    char *s = *p;
    while (*s == ' ')
        s++;
    if (!*s)
        return NULL;
    char *e = s;
    while (*e && *e != ' ')
        e++;
    if (*e)
        *e++ = '\0';
    *p = e;
    return s;
}

/* Strict decimal: digits only, no overflow. */
static int number(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int malformed(struct proto_reply *r, const char *line)
{
    if (!r->malformed)
        copy(r->bad, sizeof r->bad, line);
    r->malformed = 1;
    return 0;
}

static int map_columns(char *rest, const char *index, const struct proto_field *f, size_t n, int *cols,
                       int *ncols)
{
    char *w;
    *ncols = 0;
    while ((w = word(&rest)) != NULL) {
        if (*ncols == PROTO_COLS_MAX)
            return -1;
        int c = COL_UNKNOWN;
        if (streq(w, index))
            c = COL_INDEX;
        for (size_t i = 0; i < n && c == COL_UNKNOWN; i++)
            if (streq(w, f[i].name))
                c = (int)f[i].off;
        cols[(*ncols)++] = c;
    }
    return *ncols && cols[0] == COL_INDEX ? 0 : -1;
}

/* Reads a row into a scratch record; returns the index column, or -1. */
static int read_row(char *rest, const int *cols, int ncols, void *rec, uint64_t *index)
{
    char *w;
    int i = 0;
    for (; (w = word(&rest)) != NULL; i++) {
        uint64_t v;
        if (i >= ncols || number(w, &v) != 0)
            return -1;
        if (cols[i] == COL_INDEX)
            *index = v;
        else if (cols[i] >= 0)
            *(uint64_t *)((char *)rec + cols[i]) = v;
    }
    return i == ncols ? 0 : -1;
}

static int first_line(struct proto_reply *r, char *line)
{
    char *p = line, *w = word(&p);
    uint64_t v;
    if (!w || !streq(w, "poolalloc") || !(w = word(&p)) || number(w, &v) != 0) {
        r->status = PROTO_FOREIGN;
        copy(r->bad, sizeof r->bad, line);
        return -1;
    }
    r->version = v > 1000000 ? 1000000 : (long)v;
    if (v != PROTO_VERSION) {
        r->status = PROTO_SKEW;
        return -1;
    }
    w = word(&p);
    if (w && streq(w, "ok") && (w = word(&p)) != NULL) {
        copy(r->cmd, sizeof r->cmd, w);
        r->status = PROTO_OK;
        return 0;
    }
    if (w && streq(w, "error")) {
        while (*p == ' ')
            p++;
        copy(r->error, sizeof r->error, p);
        r->status = PROTO_ERROR;
        return -1;
    }
    r->status = PROTO_FOREIGN;
    return -1;
}

int proto_parse_line(struct proto_reply *r, char *line)
{
    if (r->status == PROTO_PENDING)
        return first_line(r, line);
    if (r->status != PROTO_OK)
        return -1;
    if (r->ended)
        return malformed(r, line);
    char *rest = line, *key = word(&rest);
    if (!key)
        return malformed(r, "(empty line)");
    struct stats_snapshot *s = &r->snap;
    if (streq(key, "end")) {
        r->ended = 1;
        return 0;
    }
    if (streq(key, "mode") || streq(key, "mode_reason")) {
        while (*rest == ' ')
            rest++;
        if (key[4])
            copy(s->mode_reason, sizeof s->mode_reason, rest);
        else
            copy(s->mode, sizeof s->mode, rest);
        return 0;
    }
    if (streq(key, "class.columns"))
        return map_columns(rest, "class", proto_class_fields, proto_class_nfields, r->class_cols,
                           &r->nclass_cols) == 0
                   ? 0
                   : malformed(r, line);
    if (streq(key, "cpu.columns"))
        return map_columns(rest, "cpu", proto_cpu_fields, proto_cpu_nfields, r->cpu_cols,
                           &r->ncpu_cols) == 0
                   ? 0
                   : malformed(r, line);
    if (streq(key, "class")) {
        struct stats_class k = {0};
        uint64_t index = UINT64_MAX;
        if (!r->nclass_cols || read_row(rest, r->class_cols, r->nclass_cols, &k, &index) != 0)
            return malformed(r, key);
        if (index < SC_COUNT)   /* a newer library's extra classes are left out */
            s->cls[index] = k;
        return 0;
    }
    if (streq(key, "cpu")) {
        struct stats_cpu c = {0};
        uint64_t index = UINT64_MAX;
        if (!r->ncpu_cols || read_row(rest, r->cpu_cols, r->ncpu_cols, &c, &index) != 0)
            return malformed(r, key);
        c.cpu = index;
        if (s->ncpu < STATS_CPU_MAX)
            s->cpu[s->ncpu++] = c;
        return 0;
    }
    if (streq(key, "config")) {
        char *name = word(&rest);
        if (!name)
            return malformed(r, key);
        while (*rest == ' ')
            rest++;
        if (r->config.n < RENDER_CONFIG_MAX) {
            copy(r->config.item[r->config.n].name, sizeof r->config.item[0].name, name);
            copy(r->config.item[r->config.n].value, sizeof r->config.item[0].value, rest);
            r->config.n++;
        }
        return 0;
    }
    if (streq(key, "command")) {
        r->ncommands++;
        return 0;
    }
    uint64_t v;
    char *w = word(&rest);
    if (!w || number(w, &v) != 0 || word(&rest))
        return malformed(r, key);
    if (streq(key, "returned_now_bytes")) {
        r->returned_now = v;
        return 0;
    }
    for (size_t i = 0; i < sizeof process_fields / sizeof process_fields[0]; i++)
        if (streq(key, process_fields[i].name)) {
            *(uint64_t *)((char *)s + process_fields[i].off) = v;
            return 0;
        }
    return 0;   /* a figure this client does not know */
}
