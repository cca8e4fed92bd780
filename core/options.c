/* SPDX-License-Identifier: MIT */
/* options.c - the environment parser (see options.h). */
#include "options.h"

#include "log.h"
#include "util.h"

const struct opt_desc opt_table[] = {
#define X(NAME, field, kind, def, min, max, doc) \
    {"POOLALLOC_" #NAME, kind, (uint64_t)(def), (uint64_t)(min), (uint64_t)(max), doc},
    OPTIONS(X)
#undef X
};
const unsigned opt_count = sizeof opt_table / sizeof opt_table[0];

int opt_parse_value(const struct opt_desc *d, const char *s, uint64_t *out, const char **why)
{
    uint64_t v = 0;
    size_t i = 0;

    if (d->kind == OPT_STR) {
        *out = 0;
        return 0;
    }
    while (s[i] == ' ' || s[i] == '\t')
        i++;
    if (s[i] < '0' || s[i] > '9') {
        *why = d->kind == OPT_BOOL   ? "not 0 or 1"
               : d->kind == OPT_SIZE ? "not a size (bytes, or with a k/m/g suffix)"
                                     : "not a non-negative whole number";
        return -1;
    }
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned digit = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - digit) / 10) {
            *why = "too large";
            return -1;
        }
        v = v * 10 + digit;
    }
    if (d->kind == OPT_SIZE && s[i]) {
        unsigned shift = 0;
        switch (s[i]) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: break;
        }
        if (shift) {
            if (v > (UINT64_MAX >> shift)) {
                *why = "too large";
                return -1;
            }
            v <<= shift;
            i++;
            if (s[i] == 'b' || s[i] == 'B' || ((s[i] == 'i' || s[i] == 'I') &&
                                               (s[i + 1] == 'b' || s[i + 1] == 'B') && ++i))
                i++;
        }
    }
    while (s[i] == ' ' || s[i] == '\t')
        i++;
    if (s[i]) {
        *why = d->kind == OPT_SIZE ? "not a size (bytes, or with a k/m/g suffix)"
                                   : "trailing characters after the number";
        return -1;
    }
    if (v < d->min || v > d->max) {
        *why = "out of range";
        return -1;
    }
    *out = v;
    return 0;
}

static void warn_bad(void (*warn)(const char *), const struct opt_desc *d, const char *s,
                     const char *why)
{
    struct logbuf b = {0};
    log_str(&b, "poolalloc: ");
    log_str(&b, d->name);
    log_str(&b, "='");
    /* Quote at most 40 bytes of a hostile value, printable ASCII only: control
     * bytes, DEL and every byte >= 0x80 (C1 controls on 8-bit terminals) -> ?. */
    for (unsigned i = 0; i < 40 && s[i]; i++)
        log_mem(&b, (unsigned char)s[i] < 32 || (unsigned char)s[i] >= 127 ? "?" : &s[i], 1);
    log_str(&b, "' is ");
    log_str(&b, why);
    log_str(&b, " (allowed ");
    log_u64(&b, d->min);
    log_str(&b, "..");
    log_u64(&b, d->max);
    log_str(&b, "); using the default ");
    log_u64(&b, d->def);
    b.buf[b.len < sizeof b.buf ? b.len : sizeof b.buf - 1] = '\0';
    warn(b.buf);
}

void opt_load(struct opt_values *v, const char *(*get)(const char *name),
              void (*warn)(const char *line))
{
    const struct opt_desc *d = opt_table;
#define X(NAME, field, kind, def, min, max, doc) OPT_LOAD_##kind(field);                 \
    d++;
#define OPT_LOAD_NUM(f)                                                                  \
    do {                                                                                 \
        const char *s = get(d->name);                                                    \
        const char *why = "";                                                            \
        v->f = d->def;                                                                   \
        if (s && opt_parse_value(d, s, &v->f, &why) != 0) {                              \
            v->f = d->def;                                                               \
            warn_bad(warn, d, s, why);                                                   \
        }                                                                                \
    } while (0)
#define OPT_LOAD_OPT_SIZE(f) OPT_LOAD_NUM(f)
#define OPT_LOAD_OPT_UINT(f) OPT_LOAD_NUM(f)
#define OPT_LOAD_OPT_BOOL(f) OPT_LOAD_NUM(f)
#define OPT_LOAD_OPT_STR(f)  pa_copy_str(v->f, OPT_STR_MAX, get(d->name))
    OPTIONS(X)
#undef X
}

/* ---- unknown names --------------------------------------------------------------- */

/* POOLALLOC_* names that are not the library's options but are still ours:
 * the wrapper's (tools/poolalloc), which a program it starts inherits. */
static const char *const opt_other_names[] = {"POOLALLOC_LIB"};
#define OPT_OTHER_COUNT (sizeof opt_other_names / sizeof opt_other_names[0])

#define OPT_PREFIX "POOLALLOC_"
#define OPT_PREFIX_LEN (sizeof OPT_PREFIX - 1)
#define OPT_NAME_MAX 64   /* longer names are compared on their first 64 bytes */

static int upper(int c)
{
    return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

/* Levenshtein distance between a[0..na) and b[0..nb), letters compared without
 * case; na, nb <= OPT_NAME_MAX. Two rows on the stack. */
static unsigned edit_distance(const char *a, size_t na, const char *b, size_t nb)
{
    unsigned row[OPT_NAME_MAX + 1], prev[OPT_NAME_MAX + 1];
    for (size_t j = 0; j <= nb; j++)
        prev[j] = (unsigned)j;
    for (size_t i = 1; i <= na; i++) {
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= nb; j++) {
            unsigned sub = prev[j - 1] + (upper(a[i - 1]) != upper(b[j - 1]));
            unsigned del = prev[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        for (size_t j = 0; j <= nb; j++)
            prev[j] = row[j];
    }
    return prev[nb];
}

static size_t str_len(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

/* The known name i (options first, then opt_other_names). */
static const char *known_name(unsigned i)
{
    return i < opt_count ? opt_table[i].name : opt_other_names[i - opt_count];
}

const char *opt_closest_name(const char *name, size_t len)
{
    if (len <= OPT_PREFIX_LEN || len - OPT_PREFIX_LEN > OPT_NAME_MAX)
        return NULL;
    const char *best = NULL;
    unsigned best_d = ~0u;
    for (unsigned i = 0; i < opt_count + OPT_OTHER_COUNT; i++) {
        const char *k = known_name(i);
        size_t kl = str_len(k) - OPT_PREFIX_LEN;
        unsigned d = edit_distance(name + OPT_PREFIX_LEN, len - OPT_PREFIX_LEN,
                                   k + OPT_PREFIX_LEN, kl);
        /* Close: about one edit in three of the known name's own part
         * (MAXSIZE for MAX_SIZE, FLUSH for FLUSH_MS; not FOO for STATS). */
        if (d <= kl / 3 + 1 && d < best_d) {
            best = k;
            best_d = d;
        }
    }
    return best;
}

int opt_name_known(const char *name, size_t len)
{
    for (unsigned i = 0; i < opt_count + OPT_OTHER_COUNT; i++)
        if (pa_word_eq(name, len, known_name(i)))
            return 1;
    return 0;
}

/* Appends at most max bytes of s[0..n), printable ASCII only (as warn_bad). */
static void log_quoted(struct logbuf *b, const char *s, size_t n, size_t max)
{
    for (size_t i = 0; i < n && i < max; i++)
        log_mem(b, (unsigned char)s[i] < 32 || (unsigned char)s[i] >= 127 ? "?" : &s[i], 1);
    if (n > max)
        log_str(b, "...");
}

unsigned opt_warn_unknown(char *const *env, void (*warn)(const char *line))
{
    const char *seen[OPT_UNKNOWN_MAX];
    size_t seen_len[OPT_UNKNOWN_MAX];
    unsigned warned = 0, more = 0;
    for (; env && *env; env++) {
        const char *e = *env;
        size_t i = 0;
        while (i < OPT_PREFIX_LEN && e[i] == OPT_PREFIX[i])
            i++;
        if (i < OPT_PREFIX_LEN)
            continue;
        size_t len = i;
        while (e[len] && e[len] != '=')
            len++;
        if (opt_name_known(e, len))
            continue;
        int dup = 0;
        for (unsigned k = 0; k < warned && !dup; k++) {
            size_t j = 0;
            while (j < len && j < seen_len[k] && e[j] == seen[k][j])
                j++;
            dup = j == len && j == seen_len[k];
        }
        if (dup)
            continue;
        if (warned == OPT_UNKNOWN_MAX) {
            more = 1;   /* beyond the cap: counted, not named */
            continue;
        }
        seen[warned] = e;
        seen_len[warned++] = len;
        struct logbuf b = {0};
        log_str(&b, "poolalloc: ");
        log_quoted(&b, e, len, OPT_NAME_MAX);
        const char *near = opt_closest_name(e, len);
        if (near) {
            log_str(&b, ": unknown, did you mean ");
            log_str(&b, near);
            log_str(&b, "?");
        } else {
            log_str(&b, ": unknown, ignored (man 7 poolalloc lists the variables)");
        }
        b.buf[b.len < sizeof b.buf ? b.len : sizeof b.buf - 1] = '\0';
        warn(b.buf);
    }
    if (more) {
        struct logbuf b = {0};
        log_str(&b, "poolalloc: more unknown POOLALLOC_* names, not listed");
        b.buf[b.len] = '\0';
        warn(b.buf);
    }
    return warned;
}
