/* SPDX-License-Identifier: MIT */
/* optdoc - prints the POOLALLOC_* option table as markdown, from the one
 * table in core/options.h (README.md's section is generated from it). */
#include <stdio.h>

#include "../core/options.h"

static void print_default(const struct opt_desc *d)
{
    if (d->kind == OPT_STR) {
        fputs("(unset)", stdout);
    } else if (d->kind == OPT_SIZE && d->def >= 1024 && d->def % 1024 == 0) {
        if (d->def % (1024 * 1024) == 0)
            printf("`%llum`", (unsigned long long)(d->def >> 20));
        else
            printf("`%lluk`", (unsigned long long)(d->def >> 10));
    } else {
        printf("`%llu`", (unsigned long long)d->def);
    }
}

int main(void)
{
    puts("| variable | default | meaning |");
    puts("|---|---|---|");
    for (unsigned i = 0; i < opt_count; i++) {
        const struct opt_desc *d = &opt_table[i];
        printf("| `%s` | ", d->name);
        print_default(d);
        printf(" | %s |\n", d->doc);
    }
    return 0;
}
