/* SPDX-License-Identifier: MIT */
/*
 * proto_fuzz.c - libFuzzer target for both parsers of the stats protocol
 * (wire/proto.c: the server's request parser, which reads bytes from any
 * client; wire/proto_read.c: poolstat's reply parser, which reads whatever a
 * socket sends).
 *
 * First byte even: the input is a request; its reason must be printable and
 * NUL-terminated. Odd: the rest is a reply, fed line by line; after it the
 * snapshot is rendered as JSON, Prometheus and text into a sink on /dev/null,
 * so the renderers see every value a hostile reply can carry.
 *
 *   make fuzz                  (FUZZ_SECONDS=20 by default)
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../wire/proto_read.h"
#include "../../wire/render.h"

static struct proto_reply reply;
static struct sink out;
static int devnull = -1;

static void check_request(const uint8_t *d, size_t n)
{
    char why[PROTO_REQ_MAX];
    memset(why, 'x', sizeof why);
    int c = proto_parse_request((const char *)d, n, why, sizeof why);
    if (c < -1 || c >= PROTO_NCMD)
        abort();
    size_t len = strnlen(why, sizeof why);
    if (len == sizeof why)
        abort();   /* not terminated */
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)why[i] < 32 || (unsigned char)why[i] >= 127)
            abort();   /* a reason goes back to the client on one line */
    if (c < 0 && len == 0)
        abort();   /* every refusal says why */
}

static void check_reply(const uint8_t *d, size_t n)
{
    char *buf = malloc(n + 1);
    memcpy(buf, d, n);
    buf[n] = '\0';
    proto_reply_init(&reply);
    char *line = buf;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || buf[i] == '\n' || buf[i] == '\0') {
            buf[i] = '\0';
            if (proto_parse_line(&reply, line) != 0)
                break;
            line = buf + i + 1;
        }
    }
    free(buf);
    if (reply.status != PROTO_OK)
        return;
    if (devnull < 0)
        devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    sink_init(&out, devnull, 0);
    render_json(&out, &reply.snap, &reply.config);
    /* Names and versions come from other processes too: any bytes. */
    struct prom_process p = {&reply.snap, reply.snap.mode_reason, reply.snap.mode};
    render_prom(&out, &p, 1);
    render_text(&out, &reply.snap, reply.snap.mode);
    sink_flush(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (n == 0)
        return 0;
    if (d[0] & 1)
        check_reply(d + 1, n - 1);
    else
        check_request(d + 1, n - 1);
    return 0;
}
