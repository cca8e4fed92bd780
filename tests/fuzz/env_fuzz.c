/* SPDX-License-Identifier: MIT */
/*
 * env_fuzz.c - libFuzzer target for the POOLALLOC_* environment parser
 * (core/options.c: opt_parse_value and opt_load), which reads whatever a user, a
 * wrapper script or a hostile parent process puts in the environment.
 *
 * The input is split into lines; each line is NAME=VALUE. A NAME that is an option's
 * variable name selects that option, any other NAME selects one by a hash of it (so
 * every input exercises some option); the first line for an option wins, as with
 * getenv. Every value is then checked three ways:
 *   - opt_parse_value agrees with an independent reference parser written here
 *     (spaces or tabs, digits, for sizes an optional k/m/g with an optional b or ib,
 *     spaces or tabs; no overflow; within [min, max]) on accept/refuse and on the value;
 *     a refusal says why (a non-empty printable reason) and leaves *out untouched;
 *   - opt_load keeps the default for every refused value and the parsed value for every
 *     accepted one, copies a string option cut to OPT_STR_MAX - 1 bytes, and warns
 *     exactly once per refused value, never for an accepted one;
 *   - each warning is one complete line: it starts "poolalloc: NAME=", ends with
 *     "using the default N", holds no newline and no control character: no C0 byte,
 *     no DEL, and no C1 control (U+0080..U+009F, which terminals honour as escapes, CSI
 *     being U+009B) whether written as UTF-8 or as a bare byte, and no byte that is not
 *     part of well-formed UTF-8.
 * The same lines, as an environment (NAME=VALUE strings), go to opt_warn_unknown: it warns
 * once about each distinct POOLALLOC_* name that is not known (an option or the
 * wrapper's POOLALLOC_LIB), about no other, names at most OPT_UNKNOWN_MAX of them and then
 * says once that there are more; each line starts "poolalloc: POOLALLOC_", is printable
 * ASCII, and ends with a suggestion "...?" or "ignored (...)".
 * A failed check aborts with a message, which libFuzzer reports with the input.
 *
 *   make fuzz-env            (FUZZ_ENV_SECONDS=20 by default; tests/fuzz/fuzz.mk)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/options.h"

#define MAX_LINES 16

static const char *vals[64];        /* per option: the value the stub getenv returns */
static char warned[64];             /* per option: warnings seen for it */
static int nwarn;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "env_fuzz: %s: %s\n", what, detail ? detail : "");
    abort();
}

/* ---- the options, generically --------------------------------------------------- */

static uint64_t num_of(const struct opt_values *v, unsigned i)
{
    unsigned k = 0;
#define GET_OPT_SIZE(f) v->f
#define GET_OPT_UINT(f) v->f
#define GET_OPT_BOOL(f) v->f
#define GET_OPT_STR(f)  0
#define X(NAME, field, kind, def, min, max, doc) \
    if (k++ == i)                                \
        return (uint64_t)(GET_##kind(field));
    OPTIONS(X)
#undef X
    return 0;
}

static const char *str_of(const struct opt_values *v, unsigned i)
{
    unsigned k = 0;
#define SGET_OPT_SIZE(f) NULL
#define SGET_OPT_UINT(f) NULL
#define SGET_OPT_BOOL(f) NULL
#define SGET_OPT_STR(f)  v->f
#define X(NAME, field, kind, def, min, max, doc) \
    if (k++ == i)                                \
        return SGET_##kind(field);
    OPTIONS(X)
#undef X
    return NULL;
}

/* ---- the reference parser ---------------------------------------------------------- */

static int ref_parse(const struct opt_desc *d, const char *s, uint64_t *out)
{
    size_t i = 0;
    uint64_t v = 0;
    while (s[i] == ' ' || s[i] == '\t')
        i++;
    if (s[i] < '0' || s[i] > '9')
        return -1;
    for (; s[i] >= '0' && s[i] <= '9'; i++)
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[i] - '0', &v))
            return -1;
    if (d->kind == OPT_SIZE) {
        unsigned shift = 0;
        switch (s[i]) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        }
        if (shift) {
            if (v > UINT64_MAX >> shift)
                return -1;
            v <<= shift;
            i++;
            if (s[i] == 'b' || s[i] == 'B')
                i++;
            else if ((s[i] == 'i' || s[i] == 'I') && (s[i + 1] == 'b' || s[i + 1] == 'B'))
                i += 2;
        }
    }
    while (s[i] == ' ' || s[i] == '\t')
        i++;
    if (s[i] || v < d->min || v > d->max)
        return -1;
    *out = v;
    return 0;
}

/* ---- the warning ------------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at p, its code point in *cp; 0 if malformed. */
static size_t utf8_seq(const unsigned char *p, uint32_t *cp)
{
    unsigned n;
    uint32_t c, min;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    } else if ((p[0] & 0xe0) == 0xc0) {
        n = 2, c = p[0] & 0x1f, min = 0x80;
    } else if ((p[0] & 0xf0) == 0xe0) {
        n = 3, c = p[0] & 0x0f, min = 0x800;
    } else if ((p[0] & 0xf8) == 0xf0) {
        n = 4, c = p[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (unsigned k = 1; k < n; k++) {
        if ((p[k] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (p[k] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

static int env_allow_c1 = -1;

static void warn_cb(const char *line)
{
    nwarn++;
    size_t len = strlen(line);
    if (len == 0 || len >= 1000)
        die("a warning is empty or nearly fills the log buffer (cut?)", line);
    if (strncmp(line, "poolalloc: POOLALLOC_", 21) != 0)
        die("a warning does not start with \"poolalloc: POOLALLOC_\"", line);
    /* Which option: the name runs up to '='. */
    const char *eq = strchr(line + 11, '=');
    if (!eq)
        die("a warning does not name NAME=", line);
    int which = -1;
    for (unsigned i = 0; i < opt_count; i++)
        if ((size_t)(eq - (line + 11)) == strlen(opt_table[i].name) &&
            !strncmp(line + 11, opt_table[i].name, strlen(opt_table[i].name)))
            which = (int)i;
    if (which < 0)
        die("a warning names no known option", line);
    warned[which]++;
    char tail[64];
    snprintf(tail, sizeof tail, "using the default %llu",
             (unsigned long long)opt_table[which].def);
    if (len < strlen(tail) || strcmp(line + len - strlen(tail), tail) != 0)
        die("a warning does not end with the default it uses (cut or wrong)", line);
    const unsigned char *u = (const unsigned char *)line;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_seq(u + i, &cp);
        if (n == 0) {
            if (env_allow_c1)
                n = 1, cp = 0x41;
            else
                die("a warning holds a byte that is not well-formed UTF-8 "
                    "(a bare 0x80..0x9f is a C1 control on an 8-bit terminal)", line);
        }
        if (cp < 0x20 || cp == 0x7f)
            die("a warning holds a C0 control character or DEL", line);
        if (cp >= 0x80 && cp <= 0x9f && !env_allow_c1)
            die("a warning holds a C1 control character (U+0080..U+009F)", line);
        i += n;
    }
}

static const char *stub_get(const char *name)
{
    for (unsigned i = 0; i < opt_count; i++)
        if (!strcmp(opt_table[i].name, name))
            return vals[i];
    return NULL;
}

/* ---- unknown names ---------------------------------------------------------------- */

static int nunk, unk_more;

static void unk_cb(const char *line)
{
    size_t len = strlen(line);
    nunk++;
    if (len == 0 || len >= 200)
        die("an unknown-name warning is empty or longer than a name cut at 64 bytes", line);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] >= 0x7f)
            die("an unknown-name warning holds a byte that is not printable ASCII", line);
    if (!strcmp(line, "poolalloc: more unknown POOLALLOC_* names, not listed")) {
        if (unk_more++)
            die("the \"more\" line came twice", line);
        return;
    }
    if (unk_more)
        die("a name was warned about after the \"more\" line", line);
    if (strncmp(line, "poolalloc: POOLALLOC_", 21) != 0)
        die("an unknown-name warning does not start with \"poolalloc: POOLALLOC_\"", line);
    /* The last ": unknown, ": the name itself may hold the words. */
    const char *end = NULL;
    for (const char *p = strstr(line + 11, ": unknown, "); p; p = strstr(p + 1, ": unknown, "))
        end = p;
    if (!end)
        die("an unknown-name warning does not say \"unknown\"", line);
    if (opt_name_known(line + 11, (size_t)(end - (line + 11))))
        die("a known name was warned about", line);
    if (line[len - 1] != '?' && !strstr(end, "ignored ("))
        die("an unknown-name warning neither suggests a name nor says it is ignored", line);
}

/* The distinct unknown POOLALLOC_* names of env, counted independently. */
static unsigned ref_unknown(char *const *env)
{
    unsigned n = 0;
    for (unsigned i = 0; env[i]; i++) {
        if (strncmp(env[i], "POOLALLOC_", 10) != 0)
            continue;
        size_t len = strcspn(env[i], "=");
        int known = len == strlen("POOLALLOC_LIB") && !strncmp(env[i], "POOLALLOC_LIB", len);
        for (unsigned k = 0; k < opt_count && !known; k++)
            known = len == strlen(opt_table[k].name) && !strncmp(env[i], opt_table[k].name, len);
        int dup = 0;
        for (unsigned j = 0; j < i && !dup && !known; j++)
            dup = strcspn(env[j], "=") == len && !strncmp(env[i], env[j], len);
        n += !known && !dup;
    }
    return n;
}

static void check_unknown(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1), *env[MAX_LINES + 1];
    memcpy(copy, data, size);
    copy[size] = '\0';
    unsigned n = 0;
    for (char *line = copy; line && n < MAX_LINES;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        env[n++] = line;
        line = nl ? nl + 1 : NULL;
    }
    env[n] = NULL;
    nunk = unk_more = 0;
    unsigned distinct = ref_unknown(env);
    unsigned named = distinct < OPT_UNKNOWN_MAX ? distinct : OPT_UNKNOWN_MAX;
    unsigned got = opt_warn_unknown(env, unk_cb);
    if (got != named || nunk != (int)(named + (distinct > OPT_UNKNOWN_MAX))) {
        fprintf(stderr, "env_fuzz: %u distinct unknown names, %u named, %d lines\n", distinct,
                got, nunk);
        die("not one warning per distinct unknown name (up to the cap, then one more line)",
            NULL);
    }
    free(copy);
}

/* ---- the target ---------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (env_allow_c1 < 0) {
        /* ENV_FUZZ_ALLOW_C1=1 skips the C1/UTF-8 rule, to look past a known finding. */
        const char *a = getenv("ENV_FUZZ_ALLOW_C1");
        env_allow_c1 = a && *a == '1';
    }
    if (opt_count > 64)
        die("more options than this target handles", NULL);
    /* One NUL-terminated copy, exactly sized, so ASan sees any read past a value. */
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    memset(vals, 0, sizeof vals);
    memset(warned, 0, sizeof warned);
    nwarn = 0;

    char *line = buf;
    for (int n = 0; n < MAX_LINES && line; n++) {
        char *nl = memchr(line, '\n', (size_t)(buf + size - line));
        if (nl)
            *nl = '\0';
        char *eq = strchr(line, '=');
        const char *name = line, *value = line;
        if (eq) {
            *eq = '\0';
            value = eq + 1;
        }
        int which = -1;
        for (unsigned i = 0; i < opt_count; i++)
            if (!strcmp(opt_table[i].name, name))
                which = (int)i;
        if (which < 0) {
            uint32_t h = 2166136261u;
            for (const char *p = name; *p; p++)
                h = (h ^ (unsigned char)*p) * 16777619u;
            which = (int)(h % opt_count);
        }
        if (!vals[which])
            vals[which] = value;
        line = nl ? nl + 1 : NULL;
    }

    /* opt_parse_value against the reference parser. */
    int refused = 0;
    for (unsigned i = 0; i < opt_count; i++) {
        if (!vals[i])
            continue;
        const struct opt_desc *d = &opt_table[i];
        uint64_t got = 0xDEADBEEFCAFEF00Dull, want = 0;
        const char *why = NULL;
        int rc = opt_parse_value(d, vals[i], &got, &why);
        if (d->kind == OPT_STR) {
            if (rc != 0)
                die("a string option was refused", vals[i]);
            continue;
        }
        int ref = ref_parse(d, vals[i], &want);
        if (rc != 0 && rc != -1)
            die("opt_parse_value returned neither 0 nor -1", vals[i]);
        if ((rc == 0) != (ref == 0)) {
            fprintf(stderr, "env_fuzz: %s='%s': parser %s, reference %s\n", d->name, vals[i],
                    rc ? "refuses" : "accepts", ref ? "refuses" : "accepts");
            die("opt_parse_value and the reference parser disagree", d->name);
        }
        if (rc == 0 && got != want) {
            fprintf(stderr, "env_fuzz: %s='%s': parsed %llu, reference %llu\n", d->name,
                    vals[i], (unsigned long long)got, (unsigned long long)want);
            die("opt_parse_value parsed a different number", d->name);
        }
        if (rc == 0 && (got < d->min || got > d->max))
            die("an accepted value is out of its range", vals[i]);
        if (rc != 0) {
            refused++;
            if (got != 0xDEADBEEFCAFEF00Dull)
                die("a refused value changed the output", vals[i]);
            if (!why || !*why)
                die("a refusal gives no reason", vals[i]);
            for (const char *p = why; *p; p++)
                if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                    die("a refusal reason is not printable ASCII", why);
        }
    }

    /* opt_load: defaults kept for refused values, one warning for each. */
    struct opt_values v;
    memset(&v, 0xA5, sizeof v);
    opt_load(&v, stub_get, warn_cb);
    if (nwarn != refused) {
        fprintf(stderr, "env_fuzz: %d refused values, %d warnings\n", refused, nwarn);
        die("not exactly one warning per refused value", NULL);
    }
    for (unsigned i = 0; i < opt_count; i++) {
        const struct opt_desc *d = &opt_table[i];
        if (d->kind == OPT_STR) {
            const char *s = str_of(&v, i);
            size_t want = vals[i] ? strnlen(vals[i], OPT_STR_MAX - 1) : 0;
            if (strnlen(s, OPT_STR_MAX) != want || (want && memcmp(s, vals[i], want)))
                die("a string option is not the value cut to OPT_STR_MAX - 1 bytes", d->name);
            if (warned[i])
                die("a string option was warned about", d->name);
            continue;
        }
        uint64_t want = d->def;
        int ok = vals[i] && ref_parse(d, vals[i], &want) == 0;
        if (!ok)
            want = d->def;
        if (num_of(&v, i) != want) {
            fprintf(stderr, "env_fuzz: %s='%s': loaded %llu, expected %llu\n", d->name,
                    vals[i] ? vals[i] : "(unset)", (unsigned long long)num_of(&v, i),
                    (unsigned long long)want);
            die(ok ? "an accepted value was not loaded" : "a refused value did not leave the default",
                d->name);
        }
        if (warned[i] != (vals[i] && !ok))
            die("warnings for an option do not match its value", d->name);
    }
    free(buf);
    check_unknown(data, size);
    return 0;
}
