/* SPDX-License-Identifier: MIT */
/* text.c - making strings a stranger wrote safe to print, and memory that
 * is there or ends the program (see poolstat.h). */
#include <stdio.h>
#include <stdlib.h>

#include "poolstat.h"

void poolstat_printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 32 || (unsigned char)*s >= 127)
            *s = '?';
}

void *poolstat_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "poolstat: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return q;
}
