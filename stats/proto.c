/* SPDX-License-Identifier: MIT */
/* proto.c - the stats socket protocol, both ends (see proto.h). */
#include "proto.h"

#include <stddef.h>

const char *const proto_cmd_name[PROTO_NCMD] = {
#define X(name, doc) #name,
    PROTO_COMMANDS(X)
#undef X
};

const char *const proto_cmd_doc[PROTO_NCMD] = {
#define X(name, doc) doc,
    PROTO_COMMANDS(X)
#undef X
};

/* Every numeric field a reply can name, and where it lives. */
struct field {
    const char *name;
    size_t off;
};

static const struct field process_fields[] = {
    {"pid", offsetof(struct stats_snapshot, pid)},
    {"uptime_ms", offsetof(struct stats_snapshot, uptime_ms)},
#define X(name, kind, doc) {#name, offsetof(struct stats_snapshot, name)},
    STATS_PROCESS(X)
#undef X
};

static const struct field class_fields[] = {
    {"size", offsetof(struct stats_class, size)},
#define X(name, unit, doc) {#name, offsetof(struct stats_class, name)},
    STATS_CLASS_GAUGES(X)
#undef X
#define X(name, doc) {#name, offsetof(struct stats_class, ctr.name)},
    CACHE_COUNTERS(X)
#undef X
};

static const struct field cpu_fields[] = {
#define X(name, kind, doc) {#name, offsetof(struct stats_cpu, name)},
    STATS_CPU_FIELDS(X)
#undef X
};

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))
#define COL_UNKNOWN (-1)
#define COL_INDEX   (-2)

static int streq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

static int memeq(const char *a, size_t n, const char *word)
{
    size_t i = 0;
    for (; i < n && word[i]; i++)
        if (a[i] != word[i])
            return 0;
    return i == n && !word[i];
}

/* ---- request ---------------------------------------------------------------------------- */

struct why {
    char *buf;
    size_t cap, len;
};

static void why_mem(struct why *w, const char *s, size_t n)
{
    for (size_t i = 0; i < n && w->len + 1 < w->cap; i++) {
        unsigned char c = (unsigned char)s[i];
        w->buf[w->len++] = c < 32 || c >= 127 ? '?' : (char)c;
    }
    if (w->cap)
        w->buf[w->len] = '\0';
}

static void why_str(struct why *w, const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    why_mem(w, s, n);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

int proto_parse_request(const char *buf, size_t len, char *why, size_t cap)
{
    struct why w = {why, cap, 0};
    if (cap)
        why[0] = '\0';
    if (len && buf[len - 1] == '\n')
        len--;
    if (len && buf[len - 1] == '\r')
        len--;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if ((c < 32 && c != '\t') || c >= 127) {
            why_str(&w, "a request is one line of printable ASCII; try help");
            return -1;
        }
    }
    size_t a = 0, b = len;
    while (a < b && is_space(buf[a]))
        a++;
    while (b > a && is_space(buf[b - 1]))
        b--;
    if (a == b) {
        why_str(&w, "empty request; try help");
        return -1;
    }
    size_t e = a;
    while (e < b && !is_space(buf[e]))
        e++;
    for (int c = 0; c < PROTO_NCMD; c++) {
        if (!memeq(buf + a, e - a, proto_cmd_name[c]))
            continue;
        if (e != b) {
            why_str(&w, proto_cmd_name[c]);
            why_str(&w, " takes no arguments");
            return -1;
        }
        return c;
    }
    why_str(&w, "unknown request \"");
    why_mem(&w, buf + a, e - a < 32 ? e - a : 32);
    why_str(&w, e - a > 32 ? "...\"; try help" : "\"; try help");
    return -1;
}

/* ---- reply, server side ------------------------------------------------------------------- */

static void head(struct sink *o, const char *status)
{
    sink_str(o, "poolalloc ");
    sink_u64(o, PROTO_VERSION);
    sink_str(o, " ");
    sink_str(o, status);
    sink_str(o, " ");
}

void proto_reply_ok(struct sink *o, int cmd)
{
    head(o, "ok");
    sink_str(o, proto_cmd_name[cmd]);
    sink_str(o, "\n");
}

void proto_reply_error(struct sink *o, const char *why)
{
    head(o, "error");
    sink_printable(o, why);
    sink_str(o, "\n");
}

void proto_reply_end(struct sink *o)
{
    sink_str(o, "end\n");
}

static void kv(struct sink *o, const char *key, uint64_t v)
{
    sink_str(o, key);
    sink_str(o, " ");
    sink_u64(o, v);
    sink_str(o, "\n");
}

void proto_write_stats(struct sink *o, const struct stats_snapshot *s)
{
    kv(o, "pid", s->pid);
    kv(o, "uptime_ms", s->uptime_ms);
    sink_str(o, "mode ");
    sink_printable(o, s->mode);
    sink_str(o, "\nmode_reason ");
    sink_printable(o, s->mode_reason);
    sink_str(o, "\n");
#define X(name, kind, doc) kv(o, #name, s->name);
    STATS_PROCESS(X)
#undef X
}

static void columns(struct sink *o, const char *key, const char *index,
                    const struct field *f, size_t n)
{
    sink_str(o, key);
    sink_str(o, ".columns ");
    sink_str(o, index);
    for (size_t i = 0; i < n; i++) {
        sink_str(o, " ");
        sink_str(o, f[i].name);
    }
    sink_str(o, "\n");
}

static void row(struct sink *o, const char *key, uint64_t index, const void *rec,
                const struct field *f, size_t n)
{
    sink_str(o, key);
    sink_str(o, " ");
    sink_u64(o, index);
    for (size_t i = 0; i < n; i++) {
        sink_str(o, " ");
        sink_u64(o, *(const uint64_t *)((const char *)rec + f[i].off));
    }
    sink_str(o, "\n");
}

void proto_write_classes(struct sink *o, const struct stats_snapshot *s)
{
    columns(o, "class", "class", class_fields, NFIELDS(class_fields));
    for (unsigned c = 0; c < SC_COUNT; c++)
        if (stats_class_active(&s->cls[c]))
            row(o, "class", c, &s->cls[c], class_fields, NFIELDS(class_fields));
}

void proto_write_cpus(struct sink *o, const struct stats_snapshot *s)
{
    columns(o, "cpu", "cpu", cpu_fields, NFIELDS(cpu_fields));
    for (unsigned i = 0; i < s->ncpu; i++)
        row(o, "cpu", s->cpu[i].cpu, &s->cpu[i], cpu_fields, NFIELDS(cpu_fields));
}

void proto_write_help(struct sink *o)
{
    for (int c = 0; c < PROTO_NCMD; c++) {
        sink_str(o, "command ");
        sink_strw(o, proto_cmd_name[c], -8);
        sink_str(o, proto_cmd_doc[c]);
        sink_str(o, "\n");
    }
}

void proto_write_config(struct sink *o, const char *name, const char *value)
{
    sink_str(o, "config ");
    sink_printable(o, name);
    sink_str(o, " ");
    sink_printable(o, value);
    sink_str(o, "\n");
}

/* ---- reply, client side ------------------------------------------------------------------- */

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

static int map_columns(char *rest, const char *index, const struct field *f, size_t n, int *cols,
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
        return map_columns(rest, "class", class_fields, NFIELDS(class_fields), r->class_cols,
                           &r->nclass_cols) == 0
                   ? 0
                   : malformed(r, line);
    if (streq(key, "cpu.columns"))
        return map_columns(rest, "cpu", cpu_fields, NFIELDS(cpu_fields), r->cpu_cols,
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
    for (size_t i = 0; i < NFIELDS(process_fields); i++)
        if (streq(key, process_fields[i].name)) {
            *(uint64_t *)((char *)s + process_fields[i].off) = v;
            return 0;
        }
    return 0;   /* a figure this client does not know */
}
