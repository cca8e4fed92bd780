/* SPDX-License-Identifier: MIT */
/* sites.c - `poolstat sites` and `poolstat heap`: the sampled allocation
 * sites of a process, its reply read and shown as text or JSON (see
 * poolstat.h); its frames are named by symbols.c. Everything read here
 * (the reply, and through symbols.c the maps, the objects, what addr2line
 * says of them) comes from the target, which may be another user's: see
 * maps.h for how its files are read, and every string goes through
 * poolstat_printable before it is printed as text (JSON escapes it instead). */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poolstat.h"
#include "sites.h"
#include "symbols.h"

/* ---- the reply ---------------------------------------------------------------------------- */

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static void parse_ids(char *rest, uint64_t *ids, size_t *n)
{
    char *save = NULL;
    *n = 0;
    for (char *w = strtok_r(rest, " ", &save); w && *n < 64; w = strtok_r(NULL, " ", &save))
        if (parse_u64(w, &ids[*n]) == 0)
            (*n)++;
}

/* Fills s from the body of a `sites` reply. Unknown keys and columns are skipped. */
static void parse_sites(char *body, struct sites *s)
{
    static const char *const col_name[] = {"site", "live_objects", "live_bytes", "total_objects",
                                           "total_bytes", "live_samples", "total_samples"};
    int col[16];
    size_t ncol = 0, cap = 0;
    char *save = NULL;
    for (char *l = strtok_r(body, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(l, ' ');
        char *rest = sp ? sp + 1 : l + strlen(l);
        if (sp)
            *sp = '\0';
        if (!strcmp(l, "site.columns")) {
            char *s2 = NULL;
            ncol = 0;
            for (char *w = strtok_r(rest, " ", &s2); w && ncol < 16; w = strtok_r(NULL, " ", &s2)) {
                col[ncol] = -1;
                for (int k = 0; k < 7; k++)
                    if (!strcmp(w, col_name[k]))
                        col[ncol] = k;
                ncol++;
            }
        } else if (!strcmp(l, "site")) {
            struct site z = {0};
            uint64_t *field[] = {&z.id, &z.live_objects, &z.live_bytes, &z.total_objects,
                                 &z.total_bytes, &z.live_samples, &z.total_samples};
            char *at = strstr(rest, " @");
            if (at)
                *at = '\0';
            char *s2 = NULL;
            size_t i = 0;
            for (char *w = strtok_r(rest, " ", &s2); w; w = strtok_r(NULL, " ", &s2), i++) {
                uint64_t v;
                if (i < ncol && col[i] >= 0 && parse_u64(w, &v) == 0)
                    *field[col[i]] = v;
            }
            if (at) {
                s2 = NULL;
                for (char *w = strtok_r(at + 2, " ", &s2); w && z.nframes < FRAMES_MAX;
                     w = strtok_r(NULL, " ", &s2))
                    if (parse_u64(w, &z.frame[z.nframes]) == 0)
                        z.nframes++;
            }
            if (s->n == cap) {
                cap = cap ? 2 * cap : 16;
                s->site = poolstat_xrealloc(s->site, cap * sizeof *s->site);
            }
            s->site[s->n++] = z;
        } else if (!strcmp(l, "sampling")) {
            snprintf(s->sampling, sizeof s->sampling, "%s", rest);
        } else if (!strcmp(l, "order.live")) {
            parse_ids(rest, s->order_live, &s->nlive);
        } else if (!strcmp(l, "order.total")) {
            parse_ids(rest, s->order_total, &s->ntotal);
        } else {
            static const char *const key[] = {"pid", "sample_bytes", "sites", "samples_live",
                                              "samples_total", "samples_dropped", "live_objects",
                                              "live_bytes", "total_objects", "total_bytes"};
            uint64_t *val[] = {&s->pid, &s->sample_bytes, &s->nsites, &s->samples_live,
                               &s->samples_total, &s->dropped, &s->live_objects, &s->live_bytes,
                               &s->total_objects, &s->total_bytes};
            for (size_t k = 0; k < sizeof key / sizeof key[0]; k++)
                if (!strcmp(l, key[k]))
                    parse_u64(rest, val[k]);
        }
    }
}

static const struct site *find_site(const struct sites *s, uint64_t id)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->site[i].id == id)
            return &s->site[i];
    return NULL;
}

static const struct sym *sym_of(const struct sites *s, uint64_t addr)
{
    for (size_t j = 0; j < s->nsym; j++)
        if (s->sym[j].addr == addr)
            return &s->sym[j];
    return NULL;
}

/* ---- output -------------------------------------------------------------------------------- */

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static void print_frame(const struct sites *s, uint64_t addr)
{
    const struct sym *y = sym_of(s, addr);
    printf("        ");
    if (y && y->func)
        printf("%s", y->func);
    else
        printf("0x%" PRIx64, addr);
    if (y && y->file)
        printf("  %s", y->file);
    else if (y && y->object)
        printf("  %s+0x%" PRIx64, base_name(y->object), y->offset);
    printf("\n");
}

static void bytes(struct sink *o, uint64_t v)
{
    sink_bytes(o, v);
}

/* "1 object", "2 objects". */
static void count(struct sink *o, uint64_t n, const char *noun)
{
    sink_u64(o, n);
    sink_str(o, " ");
    sink_str(o, noun);
    if (n != 1)
        sink_str(o, "s");
}

static void print_list(const struct sites *s, const char *title, const uint64_t *ids, size_t n,
                       int by_live, const uint64_t *shown, size_t nshown)
{
    printf("\n%s\n", title);
    if (!n)
        printf("    (none)\n");
    for (size_t i = 0; i < n; i++) {
        const struct site *z = find_site(s, ids[i]);
        if (!z)
            continue;
        struct sink o;
        sink_init(&o, 1, 0);
        fflush(stdout);
        sink_str(&o, "  #");
        sink_u64(&o, i + 1);
        sink_str(&o, by_live ? "  live " : "  total ");
        bytes(&o, by_live ? z->live_bytes : z->total_bytes);
        sink_str(&o, " in ");
        count(&o, by_live ? z->live_objects : z->total_objects, "object");
        sink_str(&o, by_live ? "; total " : "; live ");
        bytes(&o, by_live ? z->total_bytes : z->live_bytes);
        sink_str(&o, " in ");
        count(&o, by_live ? z->total_objects : z->live_objects, "object");
        sink_str(&o, " (");
        count(&o, z->total_samples, "sample");
        sink_str(&o, ", site ");
        sink_u64(&o, z->id);
        sink_str(&o, ")\n");
        sink_flush(&o);
        int again = 0;
        for (size_t k = 0; k < nshown; k++)
            again |= shown[k] == z->id;
        if (again) {
            printf("        (the stack of site %" PRIu64 " above)\n", z->id);
        } else if (!z->nframes) {
            printf("        (stack not recorded: the stack table was full or busy)\n");
        } else {
            for (size_t k = 0; k < z->nframes; k++)
                print_frame(s, z->frame[k]);
        }
    }
}

static void json_str(const char *v)
{
    putchar('"');
    for (; v && *v; v++) {
        unsigned char c = (unsigned char)*v;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 32 || c >= 127)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_json(const struct sites *s)
{
    printf("{\"pid\": %" PRIu64 ", \"sample_bytes\": %" PRIu64 ", \"sites\": %" PRIu64
           ", \"samples_live\": %" PRIu64 ", \"samples_total\": %" PRIu64
           ", \"samples_dropped\": %" PRIu64 ", \"live_objects\": %" PRIu64
           ", \"live_bytes\": %" PRIu64 ", \"total_objects\": %" PRIu64 ", \"total_bytes\": %" PRIu64,
           s->pid, s->sample_bytes, s->nsites, s->samples_live, s->samples_total, s->dropped,
           s->live_objects, s->live_bytes, s->total_objects, s->total_bytes);
    const uint64_t *lists[] = {s->order_live, s->order_total};
    const size_t counts[] = {s->nlive, s->ntotal};
    const char *names[] = {"by_live", "by_total"};
    for (int l = 0; l < 2; l++) {
        printf(", \"%s\": [", names[l]);
        for (size_t i = 0; i < counts[l]; i++)
            printf("%s%" PRIu64, i ? ", " : "", lists[l][i]);
        printf("]");
    }
    printf(", \"site_list\": [");
    for (size_t i = 0; i < s->n; i++) {
        const struct site *z = &s->site[i];
        printf("%s\n  {\"site\": %" PRIu64 ", \"live_objects\": %" PRIu64 ", \"live_bytes\": %" PRIu64
               ", \"total_objects\": %" PRIu64 ", \"total_bytes\": %" PRIu64
               ", \"live_samples\": %" PRIu64 ", \"total_samples\": %" PRIu64 ", \"frames\": [",
               i ? "," : "", z->id, z->live_objects, z->live_bytes, z->total_objects,
               z->total_bytes, z->live_samples, z->total_samples);
        for (size_t k = 0; k < z->nframes; k++) {
            const struct sym *y = sym_of(s, z->frame[k]);
            printf("%s{\"address\": \"0x%" PRIx64 "\", \"function\": ", k ? ", " : "",
                   z->frame[k]);
            if (y && y->func)
                json_str(y->func);
            else
                printf("null");
            printf(", \"file\": ");
            if (y && y->file)
                json_str(y->file);
            else
                printf("null");
            printf(", \"object\": ");
            if (y && y->object)
                json_str(y->object);
            else
                printf("null");
            printf("}");
        }
        printf("]}");
    }
    printf("\n]}\n");
}

/* The message when a process does not sample; 1 (the exit status). state
 * is the server's word: made printable here. */
static int not_sampling(const struct target *t, const char *server_state)
{
    char who[320], comm[64] = "", state[160];
    snprintf(state, sizeof state, "%s", server_state);
    poolstat_printable(state);
    if (t->pid)
        poolstat_comm(t->pid, comm, sizeof comm);
    if (t->pid && comm[0])
        snprintf(who, sizeof who, "process %d (%s)", (int)t->pid, comm);
    else if (t->pid)
        snprintf(who, sizeof who, "process %d", (int)t->pid);
    else
        snprintf(who, sizeof who, "%s", t->path);
    fprintf(stderr,
            "poolstat: %s has no allocation samples: sampling %s; start it with "
            "POOLALLOC_SAMPLE=512k (mean bytes between samples)\n",
            who, state[0] ? state : "not reported");
    return 1;
}

int poolstat_sites(const struct target *t, int json)
{
    char err[POOLSTAT_ERR_MAX], *body;
    size_t len;
    if (poolstat_fetch_body(t, "sites", &body, &len, err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct sites s = {0};
    parse_sites(body, &s);
    free(body);
    if (strcmp(s.sampling, "on") != 0) {
        free(s.site);
        return not_sampling(t, s.sampling);
    }
    /* The pid we resolved, not the one the reply claims: its maps and its
     * owner decide which files are read and as whom. */
    if (t->pid)
        s.pid = (uint64_t)t->pid;
    symbols_name(&s);
    if (!json)
        for (size_t j = 0; j < s.nsym; j++) {
            char *v[] = {s.sym[j].func, s.sym[j].file, s.sym[j].object};
            for (size_t k = 0; k < 3; k++)
                if (v[k])
                    poolstat_printable(v[k]);
        }
    if (json) {
        print_json(&s);
    } else {
        char comm[64] = "";
        poolstat_comm((pid_t)s.pid, comm, sizeof comm);
        struct sink o;
        sink_init(&o, 1, 0);
        sink_str(&o, "poolstat sites ");
        sink_u64(&o, s.pid);
        if (comm[0]) {
            sink_str(&o, " (");
            sink_str(&o, comm);
            sink_str(&o, ")");
        }
        sink_str(&o, " - one sample every ");
        bytes(&o, s.sample_bytes);
        sink_str(&o, " allocated, on average - ");
        sink_u64(&o, s.nsites);
        sink_str(&o, " sites, ");
        sink_u64(&o, s.samples_live);
        sink_str(&o, " of ");
        sink_u64(&o, s.samples_total);
        sink_str(&o, " samples live, ");
        sink_u64(&o, s.dropped);
        sink_str(&o, " dropped\nestimates: live ");
        bytes(&o, s.live_bytes);
        sink_str(&o, " in ");
        sink_u64(&o, s.live_objects);
        sink_str(&o, " objects; allocated since start ");
        bytes(&o, s.total_bytes);
        sink_str(&o, " in ");
        sink_u64(&o, s.total_objects);
        sink_str(&o, " objects\n");
        sink_flush(&o);
        print_list(&s, "top sites by live bytes", s.order_live, s.nlive, 1, NULL, 0);
        print_list(&s, "top sites by bytes allocated since start", s.order_total, s.ntotal, 0,
                   s.order_live, s.nlive);
    }
    for (size_t j = 0; j < s.nsym; j++) {
        free(s.sym[j].func);
        free(s.sym[j].file);
        free(s.sym[j].object);
    }
    free(s.sym);
    free(s.site);
    return fflush(stdout) == 0 ? 0 : 1;
}

int poolstat_heap(const struct target *t)
{
    char err[POOLSTAT_ERR_MAX], *body;
    size_t len;
    if (poolstat_fetch_body(t, "heap", &body, &len, err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    /* "sampling on", then the file, one `heap LINE` per line. */
    char state[160] = "";
    int rc = 0;
    for (char *l = body, *nl; *l && rc == 0; l = nl + 1) {
        nl = strchr(l, '\n');
        if (!nl)
            nl = l + strlen(l);
        size_t n = (size_t)(nl - l);
        if (n >= 9 && !strncmp(l, "sampling ", 9))
            snprintf(state, sizeof state, "%.*s", (int)(n - 9), l + 9);
        else if (n >= 5 && !strncmp(l, "heap ", 5) && !strcmp(state, "on")) {
            /* Plain text for pprof, which needs no control character but the
             * newlines; the maps paths in it are the target's to choose. */
            char keep = *nl;
            *nl = '\0';
            poolstat_printable(l + 5);
            *nl = keep;
            rc = fwrite(l + 5, 1, n - 5, stdout) != n - 5 || putchar('\n') == EOF;
        }
        if (!*nl)
            break;
    }
    free(body);
    if (strcmp(state, "on") != 0)
        return not_sampling(t, state);
    if (rc || fflush(stdout) != 0) {
        fprintf(stderr, "poolstat: cannot write the profile: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}
