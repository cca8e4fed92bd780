/* SPDX-License-Identifier: MIT */
/*
 * thread.h - how the library starts a thread of its own (the flush thread,
 * the stats server).
 */
#ifndef POOLALLOC_THREAD_H
#define POOLALLOC_THREAD_H

#include <stddef.h>

/* Starts fn(NULL) on a detached thread with a stack of stack_bytes (reserved,
 * touched as used), named `name` (at most 15 bytes) before fn runs; returns
 * once it bears the name (at most a second later). The thread starts with
 * every signal blocked, so the program's signals are never delivered to it;
 * the caller's mask is restored before return. 0, or -1 if the thread could
 * not be made. */
int pa_thread_start(void *(*fn)(void *), size_t stack_bytes, const char *name);

#endif
