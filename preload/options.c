/* options.c - the environment parser (see options.h). */
#include "options.h"

#include "../core/log.h"

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

static void copy_str(char *dst, const char *src)
{
    size_t i = 0;
    if (src)
        for (; i < OPT_STR_MAX - 1 && src[i]; i++)
            dst[i] = src[i];
    dst[i] = '\0';
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
#define OPT_LOAD_OPT_STR(f)  copy_str(v->f, get(d->name))
    OPTIONS(X)
#undef X
}
