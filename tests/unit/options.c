/* The POOLALLOC_* parser: good values, hostile values, one warning each. */
#include <criterion/criterion.h>
#include <string.h>

#include "../../preload/options.h"

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
    cr_assert_eq(v.max_size, 32768, "default kept");
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
