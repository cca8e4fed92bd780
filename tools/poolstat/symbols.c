/* SPDX-License-Identifier: MIT */
/* symbols.c - the frames of a `sites` reply named: the target's maps read,
 * each object opened once, addr2line run per object in batches (see
 * symbols.h). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr2line.h"
#include "maps.h"
#include "poolstat.h"
#include "symbols.h"

#define A2L_BATCH  256   /* addresses per addr2line run */
#define A2L_DEADLINE_MS 10000   /* one addr2line run */
#define A2L_BUDGET_MS   30000   /* every run of one `poolstat sites` */

/* Names every frame of every site listed. */
void symbols_name(struct sites *s)
{
    for (size_t i = 0; i < s->n; i++)
        for (size_t k = 0; k < s->site[i].nframes; k++) {
            uint64_t a = s->site[i].frame[k];
            size_t j = 0;
            while (j < s->nsym && s->sym[j].addr != a)
                j++;
            if (j < s->nsym)
                continue;
            s->sym = poolstat_xrealloc(s->sym, (s->nsym + 1) * sizeof *s->sym);
            s->sym[s->nsym++] = (struct sym){.addr = a};
        }
    if (!s->nsym)
        return;
    pid_t pid = (pid_t)s->pid;
    size_t nmap = 0;
    struct mapping *maps = maps_read(pid, &nmap);
    struct a2l_user u = a2l_user_for(pid);
    size_t *idx = poolstat_xmalloc((s->nsym + 1) * sizeof *idx);
    size_t *mi = poolstat_xmalloc((s->nsym + 1) * sizeof *mi);
    char *done = calloc(s->nsym + 1, 1);
    if (!done)
        exit(1);
    for (size_t j = 0; j < s->nsym; j++) {
        uint64_t pc = s->sym[j].addr - 1;   /* inside the call instruction */
        size_t m = 0;
        while (m < nmap && !(pc >= maps[m].start && pc < maps[m].end))
            m++;
        done[j] = 1;   /* named by object and offset only, unless addr2line runs */
        if (m == nmap)
            continue;
        mi[j] = m;
        s->sym[j].object = strdup(maps[m].path);
        s->sym[j].offset = pc - maps[m].start + maps[m].offset;
        if (maps[m].fd == -2)
            maps[m].fd = maps_open(pid, &maps[m]);
        if (maps[m].fd >= 0 && maps_elf_address(maps[m].fd, &maps[m], pc, &s->sym[j].offset) == 0)
            done[j] = u.none;
    }
    /* One addr2line run per file, in batches, within one budget. */
    int64_t budget_end = poolstat_now_ms() + A2L_BUDGET_MS;
    for (size_t j = 0; j < s->nsym; j++) {
        if (done[j])
            continue;
        const struct mapping *mj = &maps[mi[j]];
        size_t n = 0;
        for (size_t k = j; k <= s->nsym; k++) {
            if (k < s->nsym && !done[k] && maps[mi[k]].inode == mj->inode &&
                !strcmp(maps[mi[k]].path, mj->path)) {
                idx[n++] = k;
                done[k] = 1;
            }
            if (n && (n == A2L_BATCH || k == s->nsym)) {
                int64_t now = poolstat_now_ms();
                int r = now >= budget_end
                            ? -1
                            : a2l_run(mj->fd, &u, s->sym, idx, n,
                                      now + A2L_DEADLINE_MS < budget_end ? now + A2L_DEADLINE_MS
                                                                         : budget_end);
                if (r == -2) {
                    /* Said once; no other object will find it either. */
                    fprintf(stderr, "poolstat: addr2line not found (Debian package binutils): "
                                    "frames are shown by address\n");
                    memset(done, 1, s->nsym);
                    break;
                }
                if (r != 0) {
                    char name[sizeof mj->path];
                    snprintf(name, sizeof name, "%s", mj->path);
                    poolstat_printable(name);
                    fprintf(stderr, "poolstat: addr2line did not finish in time on %s; frames "
                                    "there left without a name are shown by address\n", name);
                }
                n = 0;
            }
        }
    }
    for (size_t m = 0; m < nmap; m++)
        if (maps[m].fd >= 0)
            close(maps[m].fd);
    free(done);
    free(mi);
    free(idx);
    free(maps);
}
