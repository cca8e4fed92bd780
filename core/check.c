/* SPDX-License-Identifier: MIT */
/* check.c - poisoning for POOLALLOC_CHECK=1 (see check.h). */
#include "check.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

void check_on_free(unsigned cls, void *p)
{
    memset(p, CHECK_POISON, sc_size[cls]);
}

void check_on_alloc(unsigned cls, void *p)
{
    const unsigned char *b = p;
    size_t n = sc_size[cls];
    for (size_t i = 0; i < 8; i++)
        if (b[i] != CHECK_POISON)
            return;   /* never freed since it was fresh */
    for (size_t i = 8; i < n; i++) {
        if (b[i] != CHECK_POISON) {
            struct logbuf lb = {0};
            log_str(&lb, "poolalloc: write after free: object ");
            log_hex(&lb, (uint64_t)(uintptr_t)p);
            log_str(&lb, " (");
            log_u64(&lb, n);
            log_str(&lb, " bytes) was changed at offset ");
            log_u64(&lb, i);
            log_str(&lb, " after it was freed\n");
            log_flush(&lb, 2);
            abort();
        }
    }
}
