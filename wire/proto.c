/* SPDX-License-Identifier: MIT */
/* proto.c - the stats socket protocol, the server's half: requests in, replies out (see proto.h). */
#include "proto.h"

#include <stddef.h>

#include "../core/util.h"

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

const struct proto_field proto_class_fields[] = {
    {"size", offsetof(struct stats_class, size)},
#define X(name, unit, doc) {#name, offsetof(struct stats_class, name)},
    STATS_CLASS_GAUGES(X)
#undef X
#define X(name, doc) {#name, offsetof(struct stats_class, ctr.name)},
    CACHE_COUNTERS(X)
#undef X
};

const struct proto_field proto_cpu_fields[] = {
#define X(name, kind, doc) {#name, offsetof(struct stats_cpu, name)},
    STATS_CPU_FIELDS(X)
#undef X
};

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))
const size_t proto_class_nfields = NFIELDS(proto_class_fields);
const size_t proto_cpu_nfields = NFIELDS(proto_cpu_fields);

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
        if (!pa_word_eq(buf + a, e - a, proto_cmd_name[c]))
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
                    const struct proto_field *f, size_t n)
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
                const struct proto_field *f, size_t n)
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
    columns(o, "class", "class", proto_class_fields, proto_class_nfields);
    for (unsigned c = 0; c < SC_COUNT; c++)
        if (stats_class_active(&s->cls[c]))
            row(o, "class", c, &s->cls[c], proto_class_fields, proto_class_nfields);
}

void proto_write_cpus(struct sink *o, const struct stats_snapshot *s)
{
    columns(o, "cpu", "cpu", proto_cpu_fields, proto_cpu_nfields);
    for (unsigned i = 0; i < s->ncpu; i++)
        row(o, "cpu", s->cpu[i].cpu, &s->cpu[i], proto_cpu_fields, proto_cpu_nfields);
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
