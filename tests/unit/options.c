/* SPDX-License-Identifier: MIT */
/* The POOLALLOC_* parser: good values, hostile values, one warning each. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "../../core/options.h"

static const struct opt_desc *find(const char *name)
{
    for (unsigned i = 0; i < opt_count; i++)
        if (!strcmp(opt_table[i].name, name))
            return &opt_table[i];
    return NULL;
}

static int parse(const char *name, const char *s, uint64_t *v)
{
    const char *why = NULL;
    int rc = opt_parse_value(find(name), s, v, &why);
    if (rc)
        cr_assert(why && *why, "a refusal says why");
    return rc;
}

Test(options, sizes_with_suffixes)
{
    uint64_t v;
    cr_assert_eq(parse("POOLALLOC_MAX_SIZE", "4096", &v), 0);
    cr_assert_eq(v, 4096);
    cr_assert_eq(parse("POOLALLOC_MAX_SIZE", "16k", &v), 0);
    cr_assert_eq(v, 16384);
    cr_assert_eq(parse("POOLALLOC_CPU_CACHE", "2M", &v), 0);
    cr_assert_eq(v, 2 << 20);
    cr_assert_eq(parse("POOLALLOC_CPU_CACHE", "1KiB", &v), 0);
    cr_assert_eq(v, 1024);
    cr_assert_eq(parse("POOLALLOC_CPU_CACHE", " 64k ", &v), 0);
    cr_assert_eq(v, 65536);
}

Test(options, bad_values_are_refused)
{
    uint64_t v = 77;
    const char *bad[] = {"", "banana", "-5", "12q", "1kk", "0x10", "99999999999999999999",
                         "18446744073709551615k", "300k" /* > 256 KiB */};
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_neq(parse("POOLALLOC_MAX_SIZE", bad[i], &v), 0, "accepted '%s'", bad[i]);
    cr_assert_neq(parse("POOLALLOC_FLUSH_MS", "1k", &v), 0, "no suffix on a plain number");
    cr_assert_neq(parse("POOLALLOC_STATS", "2", &v), 0);
    cr_assert_neq(parse("POOLALLOC_STATS", "yes", &v), 0);
    cr_assert_eq(v, 77, "a refused value leaves the output alone");
}

static const char *env_vals[16][2];
static const char *stub_get(const char *name)
{
    for (unsigned i = 0; env_vals[i][0]; i++)
        if (!strcmp(env_vals[i][0], name))
            return env_vals[i][1];
    return NULL;
}
static int warnings;
static char last_warning[512];
static void stub_warn(const char *line)
{
    warnings++;
    strncpy(last_warning, line, sizeof last_warning - 1);
}

Test(options, load_uses_defaults_and_warns_once_per_bad_value)
{
    struct opt_values v;
    env_vals[0][0] = "POOLALLOC_MAX_SIZE";
    env_vals[0][1] = "banana";
    env_vals[1][0] = "POOLALLOC_FLUSH_MS";
    env_vals[1][1] = "250";
    env_vals[2][0] = "POOLALLOC_SOCKET";
    env_vals[2][1] = "/tmp/x-%p.sock";
    opt_load(&v, stub_get, stub_warn);
    cr_assert_eq(warnings, 1);
    cr_assert(strstr(last_warning, "POOLALLOC_MAX_SIZE"), "%s", last_warning);
    cr_assert(!strchr(last_warning, '\n'), "one line");
    cr_assert_eq(v.max_size, 262144, "default kept");
    cr_assert_eq(v.flush_ms, 250);
    cr_assert_eq(v.cpu_cache, 1048576);
    cr_assert_str_eq(v.socket, "/tmp/x-%p.sock");
}

Test(options, hostile_string_is_cut_and_control_bytes_hidden)
{
    struct opt_values v;
    static char longv[4096];
    memset(longv, 'A', sizeof longv - 1);
    longv[5] = '\n';
    env_vals[0][0] = "POOLALLOC_CPU_CACHE";
    env_vals[0][1] = longv;
    env_vals[1][0] = "POOLALLOC_SOCKET";
    env_vals[1][1] = longv;
    opt_load(&v, stub_get, stub_warn);
    cr_assert_eq(warnings, 1);
    cr_assert(!strchr(last_warning, '\n'));
    cr_assert_lt(strlen(last_warning), 300);
    cr_assert_eq(strlen(v.socket), OPT_STR_MAX - 1, "string option truncated, not overflowed");
}

/* ---- unknown POOLALLOC_* names -------------------------------------------------------- */

static char unk_lines[16][512];
static int unk_count;
static void unk_warn(const char *line)
{
    if (unk_count < 16)
        snprintf(unk_lines[unk_count], sizeof unk_lines[0], "%s", line);
    unk_count++;
}

static unsigned warn_env(char **env)
{
    unk_count = 0;
    memset(unk_lines, 0, sizeof unk_lines);
    return opt_warn_unknown(env, unk_warn);
}

Test(options, unknown_name_is_named_once_with_the_closest_known_one)
{
    char *env[] = {"PATH=/bin", "POOLALLOC_MAX_SIZE=1k", "POOLALLOC_MAXSIZE=1k",
                   "POOLALLOC_LIB=/x.so", "POOLALLOC_MAXSIZE=2k", "XPOOLALLOC_FOO=1", NULL};
    cr_assert_eq(warn_env(env), 1);
    cr_assert_eq(unk_count, 1, "once, though it is set twice: %d lines", unk_count);
    cr_assert_str_eq(unk_lines[0],
                     "poolalloc: POOLALLOC_MAXSIZE: unknown, did you mean POOLALLOC_MAX_SIZE?");
}

Test(options, closest_name_by_edit_distance_or_none)
{
    struct {
        const char *typo, *want;
    } cases[] = {
        {"POOLALLOC_MAXSIZE", "POOLALLOC_MAX_SIZE"},
        {"POOLALLOC_max_size", "POOLALLOC_MAX_SIZE"},
        {"POOLALLOC_FLUSH", "POOLALLOC_FLUSH_MS"},
        {"POOLALLOC_FLUSHMS", "POOLALLOC_FLUSH_MS"},
        {"POOLALLOC_CPUCACHE", "POOLALLOC_CPU_CACHE"},
        {"POOLALLOC_SAMPEL", "POOLALLOC_SAMPLE"},
        {"POOLALLOC_STAT", "POOLALLOC_STATS"},
        {"POOLALLOC_START_ALLOC", "POOLALLOC_START_ALLOCS"},
        {"POOLALLOC_VERBOS", "POOLALLOC_VERBOSE"},
        {"POOLALLOC_SOCK", "POOLALLOC_SOCKET"},
        {"POOLALLOC_FOO", NULL},
        {"POOLALLOC_X", NULL},
        {"POOLALLOC_", NULL},
        {"POOLALLOC_COMPLETELY_DIFFERENT", NULL},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = opt_closest_name(cases[i].typo, strlen(cases[i].typo));
        if (cases[i].want)
            cr_assert(got && !strcmp(got, cases[i].want), "%s: got %s, want %s", cases[i].typo,
                      got ? got : "none", cases[i].want);
        else
            cr_assert(!got, "%s: got %s, want none", cases[i].typo, got);
    }
    for (unsigned i = 0; i < opt_count; i++)
        cr_assert(opt_name_known(opt_table[i].name, strlen(opt_table[i].name)), "%s",
                  opt_table[i].name);
    cr_assert(opt_name_known("POOLALLOC_LIB", 13), "the wrapper's variable");
    cr_assert(!opt_name_known("POOLALLOC_max_size", 18), "case counts in a name");
    cr_assert(!opt_name_known("POOLALLOC_MAX_SIZ", 17), "a prefix is not the name");
}

Test(options, unknown_names_without_a_close_one_and_hostile_bytes)
{
    static char longname[300];
    memcpy(longname, "POOLALLOC_", 10);
    memset(longname + 10, 'Q', sizeof longname - 13);
    memcpy(longname + sizeof longname - 3, "=1", 3);
    char *env[] = {"POOLALLOC_FOO=1", "POOLALLOC_\x1b[2J\x9b=1", longname, "POOLALLOC_NOVALUE",
                   NULL};
    cr_assert_eq(warn_env(env), 4);
    cr_assert_str_eq(unk_lines[0],
                     "poolalloc: POOLALLOC_FOO: unknown, ignored (man 7 poolalloc lists the "
                     "variables)");
    for (int i = 0; i < 4; i++) {
        for (const unsigned char *p = (const unsigned char *)unk_lines[i]; *p; p++)
            cr_assert(*p >= 32 && *p < 127, "line %d holds byte 0x%02x: %s", i, *p,
                      unk_lines[i]);
        cr_assert_lt(strlen(unk_lines[i]), 200, "line %d not cut: %s", i, unk_lines[i]);
    }
    cr_assert(strstr(unk_lines[1], "POOLALLOC_?[2J?: unknown"), "%s", unk_lines[1]);
    cr_assert(strstr(unk_lines[2], "QQQ...: unknown"), "%s", unk_lines[2]);
    cr_assert(strstr(unk_lines[3], "POOLALLOC_NOVALUE: unknown"), "%s", unk_lines[3]);
}

Test(options, unknown_names_are_capped)
{
    static char names[20][32];
    char *env[21];
    for (int i = 0; i < 20; i++) {
        snprintf(names[i], sizeof names[i], "POOLALLOC_ZZ%02d=1", i);
        env[i] = names[i];
    }
    env[20] = NULL;
    cr_assert_eq(warn_env(env), OPT_UNKNOWN_MAX);
    cr_assert_eq(unk_count, OPT_UNKNOWN_MAX + 1, "%d lines", unk_count);
    cr_assert(strstr(unk_lines[OPT_UNKNOWN_MAX], "more unknown"), "%s",
              unk_lines[OPT_UNKNOWN_MAX]);
    /* Exactly the cap: no "more" line. */
    env[OPT_UNKNOWN_MAX] = NULL;
    cr_assert_eq(warn_env(env), OPT_UNKNOWN_MAX);
    cr_assert_eq(unk_count, OPT_UNKNOWN_MAX);
    char *none[] = {NULL};
    cr_assert_eq(warn_env(none), 0);
    cr_assert_eq(warn_env(NULL), 0);
    cr_assert_eq(unk_count, 0);
}
