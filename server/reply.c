/* SPDX-License-Identifier: MIT */
/* reply.c - the reply to one request of the stats socket (see reply.h).
 * Nothing here calls malloc. */
#define _GNU_SOURCE
#include "reply.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "../core/cpu.h"
#include "../core/flush.h"
#include "../core/log.h"
#include "../core/options.h"
#include "../include/poolalloc.h"
#include "../sampler/sample.h"
#include "../stats/stats.h"
#include "../wire/proto.h"
#include "fd.h"
#include "sockpath.h"

static struct stats_snapshot reply_snap;   /* used by the server thread only */

static void write_config(struct sink *o, const struct reply_server *srv)
{
    const struct opt_values *v = srv->opts;
    const struct opt_desc *d = opt_table;
#define X(NAME, field, kind, def, min, max, doc) SRV_CFG_##kind(field); d++;
#define SRV_CFG_NUM(f)                                                  \
    do {                                                                \
        struct logbuf b = {0};                                          \
        log_u64(&b, v->f);                                              \
        b.buf[b.len] = '\0';                                            \
        proto_write_config(o, d->name, b.buf);                          \
    } while (0)
#define SRV_CFG_OPT_SIZE(f) SRV_CFG_NUM(f)
#define SRV_CFG_OPT_UINT(f) SRV_CFG_NUM(f)
#define SRV_CFG_OPT_BOOL(f) SRV_CFG_NUM(f)
#define SRV_CFG_OPT_STR(f)  proto_write_config(o, d->name, v->f)
    OPTIONS(X)
#undef X
    proto_write_config(o, "version", POOLALLOC_VERSION);   /* the library's; PROTO_VERSION is the protocol's */
    proto_write_config(o, "socket_path", srv->socket_path);
    proto_write_config(o, "descriptor_table", srv->private_table ? "private" : "shared");
    proto_write_config(o, "mode", cpu_mode_name());
    proto_write_config(o, "mode_reason", cpu_fallback_reason);
    proto_write_config(o, "sampling", sample_state());
}

/* /proc/self/maps as `heap` lines, streamed through the sink (it may be far
 * larger than its buffer). The descriptor is checked like every other one
 * of ours: with a shared table the program may close and reuse its number
 * meanwhile. */
static void write_maps(struct sink *o)
{
    static char chunk[4096];
    struct owned_fd m = {-1, 0, 0};
    int fd = sock_high_fd(open("/proc/self/maps", O_RDONLY | O_CLOEXEC));
    if (fd < 0 || fd_own(&m, fd) != 0) {
        if (fd >= 0)
            close(fd);
        return;
    }
    int line_start = 1;
    while (!o->failed && fd_still_ours(&m)) {
        ssize_t n = read(m.fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (size_t i = 0; i < (size_t)n;) {
            size_t end = i;
            while (end < (size_t)n && chunk[end] != '\n')
                end++;
            if (line_start)
                sink_str(o, "heap ");
            line_start = end < (size_t)n;
            end += line_start;   /* the newline too */
            sink_mem(o, chunk + i, end - i);
            i = end;
        }
    }
    if (!line_start)
        sink_str(o, "\n");
    fd_release(&m);
}

void reply_render(struct sink *o, const char *req, size_t len, const struct reply_server *srv)
{
    char why[PROTO_REQ_MAX];
    sink_init_mem(o, SERVER_REPLY_MAX);
    int cmd = proto_parse_request(req, len, why, sizeof why);
    if (cmd < 0) {
        proto_reply_error(o, why);
        sink_flush(o);
        return;
    }
    proto_reply_ok(o, cmd);
    if (cmd == PROTO_flush) {
        size_t bytes = flush_run();
        struct flush_totals t;
        flush_totals(&t);
        sink_str(o, "returned_now_bytes ");
        sink_u64(o, bytes);
        sink_str(o, "\nflushes ");
        sink_u64(o, t.generations);
        sink_str(o, "\n");
    } else if (cmd == PROTO_help) {
        proto_write_help(o);
    } else if (cmd == PROTO_config) {
        write_config(o, srv);
    } else if (cmd == PROTO_sites) {
        heapprof_write_sites(o);
    } else if (cmd == PROTO_heap) {
        if (heapprof_write_heap(o))
            write_maps(o);
    } else {
        stats_snapshot(&reply_snap);
        if (cmd == PROTO_stats || cmd == PROTO_all)
            proto_write_stats(o, &reply_snap);
        if (cmd == PROTO_classes || cmd == PROTO_all)
            proto_write_classes(o, &reply_snap);
        if (cmd == PROTO_cpus || cmd == PROTO_all)
            proto_write_cpus(o, &reply_snap);
        if (cmd == PROTO_all)
            write_config(o, srv);
    }
    proto_reply_end(o);
    sink_flush(o);
}
