/* SPDX-License-Identifier: MIT */
/* args.c - poolstat's command line (args.h): every option and subcommand
 * declared once, in the two tables below, which give getopt_long its
 * options, --help and `help SUBCOMMAND` their text, and the checks their
 * rules ("an option that does not apply is an error, never ignored"). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "args.h"
#include "../../include/poolalloc.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

/* X(ID, SHORT (0: long only), LONG, VALUE (NULL: none), APPLIES TO, HELP).
 * APPLIES TO is what an error says when the option is given where it does
 * not apply; HELP may hold "\n" (continued under the help column). */
#define POOLSTAT_OPTIONS(X)                                                                        \
    X(WATCH, 'w', "watch", NULL, "show", "refreshing view of TARGET; q or Ctrl-C quits")        \
    X(DELAY, 'd', "delay", "SECS", "-w", "seconds between refreshes, 0.05 to 3600 (default 1)")  \
    X(COUNT, 'n', "count", "N", "-w and export",                                                 \
      "refreshes (-w) or writes (export) to make, then exit\n(default: until q, Ctrl-C or killed)") \
    X(SORT, 's', "sort", "KEY", "-w",                                                            \
      "sort -w by u in use (default), n objects, c cached, a allocs/s,\n"                        \
      "f frees/s, d drops/s, h cache hit (worst first), s size")                                 \
    X(JSON, 0, "json", NULL, "show and sites", "everything as one JSON object")                  \
    X(PROM, 0, "prom", NULL, "show", "Prometheus text exposition")                               \
    X(ALL, 0, "all", NULL, "--prom", "with --prom: every poolalloc process of yours, no TARGET") \
    X(TEXTFILE, 0, "textfile", "DIR", "export", "export: the folder node_exporter's textfile\n"   \
                                                "collector reads (writes DIR/poolalloc.prom)")   \
    X(INTERVAL, 0, "interval", "SECS", "export",                                                 \
      "export: seconds between writes, 0.05 to 3600 (default 15)")                               \
    X(HELP, 'h', "help", NULL, "", "this text; SUBCOMMAND --help: that subcommand's")            \
    X(VERSION, 'V', "version", NULL, "", "poolstat's version and its protocol's")

enum opt_id {
#define X_ENUM(id, sh, lo, val, where, help) OPT_##id,
    POOLSTAT_OPTIONS(X_ENUM) OPT_N
};

struct opt_doc {
    int sh;
    const char *lo, *val, *where, *help;
};

static const struct opt_doc opts[OPT_N] = {
#define X_DOC(id, sh, lo, val, where, help) {sh, lo, val, where, help},
    POOLSTAT_OPTIONS(X_DOC)
};

_Static_assert(OPT_N <= 32, "options are bits of an unsigned");
#define BIT(id) (1u << OPT_##id)
#define LONG_ONLY_BASE 256   /* getopt_long's value for a long-only option: base + id */

/* The subcommands. `opts`: the options that apply; `target`: 1 if it
 * takes a TARGET. `synopsis`: its lines of the usage, "poolstat ..." with
 * what it does from column 38; `about`: what `help NAME` adds. */
struct subcmd {
    const char *name;
    enum poolstat_cmd cmd;
    int target;
    unsigned opts;
    const char *synopsis, *about;
};

#define COL "\n                                   "
static const struct subcmd subcmds[] = {
    {"show", CMD_SHOW, 1,
     BIT(WATCH) | BIT(DELAY) | BIT(COUNT) | BIT(SORT) | BIT(JSON) | BIT(PROM) | BIT(ALL),
     "poolstat [show] TARGET             summary and per-class table\n"
     "poolstat [show] -w [-d SECS] [-n N] [-s KEY] TARGET" COL "refreshing view (q or Ctrl-C quits)\n"
     "poolstat [show] --json TARGET      everything as one JSON object\n"
     "poolstat [show] --prom TARGET      Prometheus text exposition\n"
     "poolstat [show] --prom --all       the same for every poolalloc process of yours\n",
     "A TARGET alone is shown: `show` may be left out. While -w runs, the keys\n"
     "u n c a f d h s sort it as -s does; -d, -n and -s apply to -w only.\n"},
    {"flush", CMD_FLUSH, 1, 0,
     "poolstat flush TARGET              run one generation now\n",
     "Cached memory goes back to the spans, empty spans to the OS; says how much.\n"},
    {"config", CMD_CONFIG, 1, 0,
     "poolstat config TARGET             options and mode in force\n",
     "The POOLALLOC_* options as TARGET parsed them, its socket path, its pool mode.\n"},
    {"sites", CMD_SITES, 1, BIT(JSON),
     "poolstat sites [--json] TARGET     top allocation sites (POOLALLOC_SAMPLE), symbolized\n",
     "Frames are named by addr2line (binutils), by address where it cannot\n"
     "(docs/sites.md).\n"},
    {"heap", CMD_HEAP, 1, 0,
     "poolstat heap TARGET > F.heap      heap profile: google-pprof --text PROGRAM F.heap\n",
     "The sampled live allocations, for google-pprof --text, --svg or --collapsed\n"
     "(--base OLD.heap: what grew since).\n"},
    {"export", CMD_EXPORT, 0, BIT(TEXTFILE) | BIT(INTERVAL) | BIT(COUNT),
     "poolstat export --textfile DIR [--interval SECS] [-n N]" COL
     "keep DIR/poolalloc.prom current for node_exporter\n",
     "Every poolalloc process of yours, as --prom --all, written through a\n"
     "temporary name and a rename every SECS seconds (15).\n"},
    {"help", CMD_HELP, 0, 0,
     "poolstat help [SUBCOMMAND]         this text, or one subcommand's\n",
     "The same as poolstat SUBCOMMAND --help.\n"},
};
#define NSUB (sizeof subcmds / sizeof subcmds[0])

static const char target_doc[] =
    "TARGET is a process id, or the path of its socket (for a POOLALLOC_SOCKET poolstat\n"
    "cannot guess; ./NAME for one in this folder named like a subcommand).\n";

/* Prints "poolstat: MESSAGE" on stderr, printable, and returns 2. A macro
 * over snprintf (its format is checked) rather than a va_list function:
 * in `make lint` clang-analyzer's valist checker called a va_start'ed
 * va_list uninitialized (a false positive, seen only in the full run). */
static char usage_msg[POOLSTAT_ERR_MAX];

static int usage_line(char *msg)
{
    poolstat_printable(msg);
    fprintf(stderr, "poolstat: %s\n", msg);
    return POOLSTAT_EXIT_USAGE;
}
#define usage_error(...) (snprintf(usage_msg, sizeof usage_msg, __VA_ARGS__), usage_line(usage_msg))

static const struct subcmd *subcmd_named(const char *name)
{
    for (size_t i = 0; i < NSUB; i++)
        if (!strcmp(subcmds[i].name, name))
            return &subcmds[i];
    return NULL;
}

/* Lines of text, each indented by `indent` spaces. */
static void put_indented(FILE *f, const char *text, int indent)
{
    while (*text) {
        size_t n = strcspn(text, "\n");
        fprintf(f, "%*s%.*s\n", indent, "", (int)n, text);
        text += n + (text[n] == '\n');
    }
}

static void put_option(FILE *f, enum opt_id id)
{
    const struct opt_doc *o = &opts[id];
    char head[40];
    snprintf(head, sizeof head, "%c%c%c --%s%s%s", o->sh ? '-' : ' ', o->sh ? o->sh : ' ',
             o->sh ? ',' : ' ', o->lo, o->val ? " " : "", o->val ? o->val : "");
    size_t n = strcspn(o->help, "\n");
    fprintf(f, "  %-22s %.*s\n", head, (int)n, o->help);
    if (o->help[n])
        put_indented(f, o->help + n + 1, 25);
}

/* --help, `help`: the whole usage. */
static void usage_full(FILE *f)
{
    fputs("usage: poolstat [OPTIONS] [SUBCOMMAND] [TARGET]\n\n", f);
    fputs("  poolstat                           list the processes running poolalloc (started or not)\n", f);
    for (size_t i = 0; i < NSUB; i++)
        put_indented(f, subcmds[i].synopsis, 2);
    fputs("\nOptions (before or after the subcommand and the target; -- ends them):\n", f);
    for (int id = 0; id < OPT_N; id++)
        put_option(f, id);
    fputs("\n", f);
    fputs(target_doc, f);
    fputs("Exit status: 0 ok; 1 the target failed (no such process, no poolalloc, refused, ...);\n"
          "2 a usage mistake (one line on stderr says what is wrong).\n"
          "Protocol version " STR(PROTO_VERSION) "; see docs/poolstat.md.\n", f);
}

/* `help NAME`, `NAME --help`: one subcommand's usage. */
static void usage_of(FILE *f, const struct subcmd *s)
{
    fputs("usage:\n", f);
    put_indented(f, s->synopsis, 2);
    fputs("\n", f);
    fputs(s->about, f);
    if (s->opts) {
        fputs("\nOptions (before or after the subcommand and the target):\n", f);
        for (int id = 0; id < OPT_N; id++)
            if (s->opts & (1u << id))
                put_option(f, id);
    }
    if (s->target) {
        fputs("\n", f);
        fputs(target_doc, f);
    }
}

/* Could `word` name a target: a pid (digits), an abstract socket (@NAME),
 * a path (a slash in it, or something by that name here)? */
static int target_like(const char *word)
{
    struct stat st;
    if (word[0] && strspn(word, "0123456789") == strlen(word))
        return 1;
    return word[0] == '@' || strchr(word, '/') || lstat(word, &st) == 0;
}

/* A seconds value for -d or --interval: 0.05 to 3600. */
static int parse_secs(const char *name, const char *v, double *out)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d >= 0.05 && d <= 3600))
        return usage_error("%s wants seconds between 0.05 and 3600, not '%.80s'", name, v);
    *out = d;
    return 0;
}

static int parse_count(const char *name, const char *v, long *out)
{
    char *end = NULL;
    errno = 0;
    long n = v[0] >= '0' && v[0] <= '9' ? strtol(v, &end, 10) : 0;
    if (n < 1 || errno || *end)
        return usage_error("%s wants a count >= 1, not '%.80s'", name, v);
    *out = n;
    return 0;
}

/* What a missing value should be, for "-d needs a value in seconds (e.g. -d 2)". */
static const char *value_hint(enum opt_id id)
{
    switch (id) {
    case OPT_DELAY:
    case OPT_INTERVAL:
        return "a value in seconds (e.g. %s 2)";
    case OPT_COUNT:
        return "a count (e.g. %s 5)";
    case OPT_SORT:
        return "a sort key, one of u n c a f d h s (e.g. %s c)";
    default:
        return "a folder (e.g. %s /var/lib/prometheus/node-exporter)";
    }
}

static int opt_of_val(int c)
{
    if (c >= LONG_ONLY_BASE && c < LONG_ONLY_BASE + OPT_N)
        return c - LONG_ONLY_BASE;
    for (int id = 0; id < OPT_N; id++)
        if (opts[id].sh && opts[id].sh == c)
            return id;
    return -1;
}

/* The option `id` as the user wrote it (long if `lng`). */
static void spell(char *out, size_t cap, int id, int lng)
{
    if (lng || !opts[id].sh)
        snprintf(out, cap, "--%s", opts[id].lo);
    else
        snprintf(out, cap, "-%c", opts[id].sh);
}

/* The checks of `show` (named or implied by a TARGET or an option). */
static int check_show(const struct poolstat_args *a, const char (*name)[24], unsigned given)
{
    if (a->json && a->prom)
        return usage_error("%s and %s do not go together; choose one", name[OPT_JSON], name[OPT_PROM]);
    if (a->watch && (a->json || a->prom))
        return usage_error("%s and %s do not go together; -w is a view for a terminal",
                           name[OPT_WATCH], a->json ? name[OPT_JSON] : name[OPT_PROM]);
    if (a->all && !a->prom)
        return usage_error("%s applies to --prom; use poolstat --prom --all", name[OPT_ALL]);
    static const enum opt_id needs_w[] = {OPT_DELAY, OPT_COUNT, OPT_SORT};
    for (size_t i = 0; i < 3; i++)
        if (!a->watch && (given & (1u << needs_w[i])))
            return usage_error("%s applies to -w; add -w or leave %s out", name[needs_w[i]],
                               name[needs_w[i]]);
    if (a->all && a->target)
        return usage_error("--prom --all takes no TARGET: '%.100s'; leave out one or the other",
                           a->target);
    if (!a->target && !a->all) {
        const char *what = a->watch ? name[OPT_WATCH] : a->json ? name[OPT_JSON]
                         : a->prom ? name[OPT_PROM] : "show";
        return usage_error("%s needs a TARGET (a pid or a socket path)%s; run poolstat alone to "
                           "list them", what, a->prom ? " or --all" : "");
    }
    return 0;
}

int poolstat_parse_args(int argc, char **argv, struct poolstat_args *a)
{
    struct option lo[OPT_N + 1];
    char shorts[3 * OPT_N + 3] = "-:";   /* non-options in order ('-'), errors quiet (':') */
    size_t ns = 2;
    for (int id = 0; id < OPT_N; id++) {
        lo[id] = (struct option){opts[id].lo, opts[id].val ? required_argument : no_argument, NULL,
                                 opts[id].sh ? opts[id].sh : LONG_ONLY_BASE + id};
        if (opts[id].sh) {
            shorts[ns++] = (char)opts[id].sh;
            if (opts[id].val)
                shorts[ns++] = ':';
        }
    }
    lo[OPT_N] = (struct option){0};
    shorts[ns] = '\0';

    *a = (struct poolstat_args){.w = {.interval = 1.0}, .interval = 15.0};
    const char **pos = poolstat_xmalloc(((size_t)argc + 1) * sizeof *pos);
    size_t npos = 0;
    unsigned given = 0;
    char name[OPT_N][24] = {{0}};   /* each option as the user first wrote it */
    int rc = -1;
    opterr = 0;
    optind = 1;
    for (;;) {
        int li = -1;
        int c = getopt_long(argc, argv, shorts, lo, &li);
        if (c == -1)
            break;
        if (c == 1) {   /* a non-option, in order */
            pos[npos++] = optarg;
            continue;
        }
        if (c == ':' || c == '?') {
            const char *tok = argv[optind - 1];
            int id = opt_of_val(optopt);
            int lng = !strncmp(tok, "--", 2);
            if (c == ':' && id >= 0) {
                char nm[24], hint[96];
                spell(nm, sizeof nm, id, lng);
                snprintf(hint, sizeof hint, value_hint(id), nm);
                rc = usage_error("%s needs %s", nm, hint);
            } else if (id >= 0 && lng) {
                rc = usage_error("--%s takes no value: '%.100s'; see poolstat --help", opts[id].lo,
                                 tok);
            } else if (optopt && !lng) {
                rc = usage_error("unknown option -%c; see poolstat --help", optopt);
            } else {
                rc = usage_error("unknown option %.*s; see poolstat --help",
                                 (int)(strcspn(tok, "=") < 100 ? strcspn(tok, "=") : 100), tok);
            }
            goto out;
        }
        int id = opt_of_val(c);
        if (id < 0)
            continue;   /* not reached: getopt returns only what lo and shorts declare */
        if (!(given & (1u << id)))
            spell(name[id], sizeof name[id], id, li >= 0);
        given |= 1u << id;
        switch (id) {
        case OPT_WATCH: a->watch = 1; break;
        case OPT_JSON: a->json = 1; break;
        case OPT_PROM: a->prom = 1; break;
        case OPT_ALL: a->all = 1; break;
        case OPT_TEXTFILE: a->textfile = optarg; break;
        case OPT_DELAY:
        case OPT_INTERVAL: {
            char nm[24];
            spell(nm, sizeof nm, id, li >= 0);
            if ((rc = parse_secs(nm, optarg, id == OPT_DELAY ? &a->w.interval : &a->interval)) != 0)
                goto out;
            break;
        }
        case OPT_COUNT: {
            char nm[24];
            spell(nm, sizeof nm, id, li >= 0);
            if ((rc = parse_count(nm, optarg, &a->count)) != 0)
                goto out;
            a->w.count = a->count;
            break;
        }
        case OPT_SORT:
            if (strlen(optarg) != 1 || !strchr("uncafdhs", optarg[0])) {
                char nm[24];
                spell(nm, sizeof nm, id, li >= 0);
                rc = usage_error("%s wants one of u n c a f d h s, not '%.80s'", nm, optarg);
                goto out;
            }
            a->w.sort = optarg[0];
            break;
        default: break;
        }
    }
    for (int i = optind; i < argc; i++)   /* after -- */
        pos[npos++] = argv[i];

    if (given & BIT(VERSION)) {
        printf("poolstat %s (protocol %d)\n", POOLALLOC_VERSION, PROTO_VERSION);
        rc = POOLSTAT_EXIT_OK;
        goto out;
    }

    /* SUBCOMMAND, or a TARGET meaning show. */
    const struct subcmd *sub = NULL;
    size_t next = 0;
    if (npos > 0) {
        sub = subcmd_named(pos[0]);
        if (sub) {
            next = 1;
        } else if (!target_like(pos[0])) {
            rc = pos[0][0] >= '0' && pos[0][0] <= '9'
                     ? usage_error("'%.100s' is neither a process id nor a socket path; give a pid "
                                   "(digits) or the socket's path", pos[0])
                     : usage_error("unknown subcommand '%.100s'; see poolstat --help", pos[0]);
            goto out;
        }
    }
    if (given & BIT(HELP)) {
        if (sub && sub->cmd != CMD_HELP)
            usage_of(stdout, sub);
        else
            usage_full(stdout);
        rc = POOLSTAT_EXIT_OK;
        goto out;
    }
    if (!sub)
        sub = npos > 0 || given ? subcmd_named("show") : NULL;
    a->cmd = sub ? sub->cmd : CMD_LIST;
    if (!sub)
        goto out;   /* poolstat alone: the list */
    for (int id = 0; id < OPT_N; id++)
        if ((given & (1u << id)) && !(sub->opts & (1u << id))) {
            rc = sub->cmd == CMD_SHOW && next == 0
                     ? usage_error("%s applies to %s; see poolstat --help", name[id], opts[id].where)
                     : usage_error("%s applies to %s, not to %s; see poolstat help %s", name[id],
                                   opts[id].where, sub->name, sub->name);
            goto out;
        }
    if (a->cmd == CMD_HELP) {
        const struct subcmd *of = npos > 1 ? subcmd_named(pos[1]) : sub;
        if (npos > 2)
            rc = usage_error("too many arguments: '%.100s'; see poolstat --help", pos[2]);
        else if (!of)
            rc = usage_error("unknown subcommand '%.100s'; see poolstat --help", pos[1]);
        else if (of == sub)
            usage_full(stdout);
        else
            usage_of(stdout, of);
        rc = rc > 0 ? rc : POOLSTAT_EXIT_OK;
        goto out;
    }
    if (npos > next && !sub->target) {
        rc = usage_error("%s takes no TARGET: '%.100s'; see poolstat help %s", sub->name, pos[next],
                         sub->name);
        goto out;
    }
    if (npos > next) {
        a->target = pos[next++];
        if (next == 2 && !target_like(a->target)) {
            rc = usage_error("'%.100s' is neither a process id nor a socket path; give a pid "
                             "(digits) or the socket's path", a->target);
            goto out;
        }
    }
    if (npos > next) {
        rc = usage_error("too many arguments: '%.100s'; see poolstat --help", pos[next]);
        goto out;
    }
    switch (a->cmd) {
    case CMD_SHOW:
        rc = check_show(a, (const char(*)[24])name, given);
        break;
    case CMD_EXPORT:
        if (!a->textfile)
            rc = usage_error("export needs --textfile DIR (node_exporter's textfile folder); "
                             "see poolstat help export");
        break;
    default:
        if (!a->target)
            rc = usage_error("%s needs a TARGET (a pid or a socket path); run poolstat alone to "
                             "list them", sub->name);
        break;
    }
    if (rc == 0)
        rc = -1;   /* checked: main runs it */
out:
    free(pos);
    return rc;
}
