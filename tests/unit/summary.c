/* SPDX-License-Identifier: MIT */
/* The POOLALLOC_STATS=1 exit summary (stats/summary.c): its per-class table
 * has a column for every per-class gauge (stats.h) and every counter
 * (counters.h), and each row as many figures as the header has names. */
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "../../stats/stats.h"

static void setup(void)
{
    harness_core(32768, 128 * 1024);
}
TestSuite(summary, .init = setup);

/* The summary as printed, NUL-terminated, in buf. */
static void summary(char *buf, size_t cap)
{
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    stats_print_summary(fd[1]);
    close(fd[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd[0], buf + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    close(fd[0]);
    buf[n] = '\0';
}

/* The line of buf that starts with prefix (after spaces), NUL-terminated in line. */
static int line_of(const char *buf, const char *prefix, char *line, size_t cap)
{
    for (const char *p = buf; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *q = p;
        while (*q == ' ')
            q++;
        if (strncmp(q, prefix, strlen(prefix)) == 0 && len < cap) {
            memcpy(line, p, len);
            line[len] = '\0';
            return 1;
        }
        p += len + (e != NULL);
    }
    return 0;
}

static unsigned words(const char *s)
{
    unsigned n = 0;
    for (; *s; s++)
        if (*s != ' ' && (s[1] == ' ' || s[1] == '\0'))
            n++;
    return n;
}

/* name as a whole word of line, or with its "alloc_" dropped. */
static int has_word(const char *line, const char *name)
{
    if (strncmp(name, "alloc_", 6) == 0)
        name += 6;
    size_t n = strlen(name);
    for (const char *p = strstr(line, name); p; p = strstr(p + 1, name))
        if ((p == line || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}

Test(summary, the_class_table_has_a_column_for_every_gauge_and_counter)
{
    void *held[8];
    for (unsigned i = 0; i < 8; i++)
        cr_assert(held[i] = cache_alloc(0));
    for (unsigned i = 0; i < 4; i++)
        cache_free(0, held[i]);

    static char out[1 << 16];
    summary(out, sizeof out);
    char head[1024], row[1024];
    cr_assert(line_of(out, "class ", head, sizeof head), "no table header in: %s", out);
    cr_assert(line_of(out, "0 ", row, sizeof row), "no row for class 0 in: %s", out);

#define X(name, unit, doc) cr_assert(has_word(head, #name), "no column " #name ": %s", head);
    STATS_CLASS_GAUGES(X)
#undef X
#define X(name, doc) cr_assert(has_word(head, #name), "no column " #name ": %s", head);
    CACHE_COUNTERS(X)
#undef X
    cr_assert_eq(words(row), words(head), "row \"%s\" under header \"%s\"", row, head);

    for (unsigned i = 4; i < 8; i++)
        cache_free(0, held[i]);
}
