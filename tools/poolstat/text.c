/* SPDX-License-Identifier: MIT */
/* text.c - making strings a stranger wrote safe to print (see poolstat.h). */
#include "poolstat.h"

void poolstat_printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 32 || (unsigned char)*s >= 127)
            *s = '?';
}
