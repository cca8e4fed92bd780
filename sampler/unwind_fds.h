/* SPDX-License-Identifier: MIT */
/*
 * unwind_fds.h - libunwind's validation pipe, moved out of the program's way.
 *
 * libunwind (1.6, Debian 12's) checks that an address is readable by writing
 * one byte from it into a pipe it opens at its first unwind and keeps in a
 * static pair of descriptors. Opened in a program that has not asked for it,
 * those are the two lowest free numbers: the program sees them, and one that
 * closes every descriptor it did not open and then opens its own (ssh, most
 * daemons) hands those numbers to its own files, from which the next
 * validation would read a byte, and into which it would write one.
 *
 * unwind_fds_move() runs once, before the first sample: it makes libunwind
 * open its pipe, finds the pair in libunwind's writable data (the one pair of
 * ints that are the read and write ends of one pipe), moves both ends just
 * under 1024 (the usual soft RLIMIT_NOFILE, or under a lower one: where a
 * program that takes the lowest free number seldom reaches, and the
 * descriptor table keeps its usual size), writes the new numbers into the
 * pair and closes the old ones. If libunwind reopens its pipe later (the
 * program closed the moved ends), the new one is again the lowest free at
 * that moment: after the program's own closing, not before.
 */
#ifndef POOLALLOC_UNWIND_FDS_H
#define POOLALLOC_UNWIND_FDS_H

/* backtrace: libunwind's unw_backtrace, called once to make it open its pipe.
 * Returns 1 if the pipe was moved, 0 if there was none or it could not be
 * found for certain (then nothing is changed), -1 if the move failed. */
int unwind_fds_move(int (*backtrace)(void **, int));

#endif
