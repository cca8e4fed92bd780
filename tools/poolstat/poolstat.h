/* SPDX-License-Identifier: MIT */
/*
 * poolstat.h - the poolstat CLI: finds a process's stats socket, asks it one
 * request (wire/proto.h), reads the reply back (wire/proto_read.h) and
 * renders it (wire/render.h): the client half of the wire format, which
 * the library does not link. A normal program: stdio and malloc are fine
 * here, unlike in the library.
 */
#ifndef POOLSTAT_H
#define POOLSTAT_H

#include <stddef.h>
#include <sys/types.h>

#include "../../wire/proto_read.h"

#define POOLSTAT_ERR_MAX 512

/* The whole of one exchange (connect, request, reply) must end within this,
 * whatever the server does: a stranger's server cannot hold poolstat. */
#define POOLSTAT_DEADLINE_MS 5000

/* CLOCK_MONOTONIC in milliseconds: the clock of every deadline. */
long long poolstat_now_ms(void);

/*
 * Where a command goes: a pid, or a socket path the operator gave. Nothing
 * about it is believed until the exchange checks it (client.c): the socket
 * and every folder above it are opened without following a link and must
 * belong to root or `uid` (the last folder and the socket to `uid` alone);
 * the server's SO_PEERCRED must be `uid` and `pid`. For a path target `uid`
 * is the socket file's owner and the server's pid becomes the target.
 */
struct target {
    pid_t pid;              /* 0 if given as a path */
    uid_t uid;              /* effective uid of pid; unused for a path target */
    int abstract;           /* path is "@NAME", a Linux abstract socket name */
    char path[256];
    char comm[64];          /* /proc/PID/comm made printable, "" if unknown */
    int unstarted;          /* set by a failed poolstat_resolve: it maps libpoolalloc but
                               has no socket yet (POOLSTAT_UNSTARTED_WHY) */
};

/* Resolves "4242" or "/path/to.sock" into t (resolve.c). A pid's socket is
 * looked for where the library makes it: the process's POOLALLOC_SOCKET, else its
 * abstract name "@poolalloc-<uid>-<pid>", else a file in a default folder.
 * 0, or -1 with a message a person can act on in err (and t->unstarted set
 * if the process runs poolalloc that has not started). */
int poolstat_resolve(const char *arg, struct target *t, char *err);

/* The same for a pid; abstract 0 leaves out the abstract name (for a caller
 * that has already read /proc/net/unix). */
int poolstat_resolve_pid(pid_t pid, int abstract, struct target *t, char *err);

/* Copies an absolute socket path's folder and name apart; 0, or -1 if one is missing. */
int poolstat_split_path(const char *path, char *dir, size_t dcap, char *name, size_t ncap);

/* Sends req, reads the whole reply into *r. 0 if the reply is a complete
 * "ok" reply; -1 with a message in err otherwise. */
int poolstat_fetch(const struct target *t, const char *req, struct proto_reply *r, char *err);

/* For replies with a body of their own (sites, heap): sends req and returns
 * in *body (NUL-terminated, *len bytes; the caller frees it) the lines
 * between the "ok" line and the closing "end". 0, or -1 with a message in err. */
int poolstat_fetch_body(const struct target *t, const char *req, char **body, size_t *len,
                        char *err);

/* `poolstat sites TARGET` (json: one JSON object) and `poolstat heap TARGET`. */
int poolstat_sites(const struct target *t, int json);
int poolstat_heap(const struct target *t);

/* Replaces, in place, every byte that is not printable ASCII (control
 * characters, DEL, bytes >= 0x80: C1 controls on 8-bit terminals) by '?'.
 * Every string that another process wrote (a name, a path, a reply, a
 * symbol) goes through it before it reaches a terminal or a file. */
void poolstat_printable(char *s);

/* Reads /proc/PID/comm into out (cap bytes), made printable; "" if it cannot. */
void poolstat_comm(pid_t pid, char *out, size_t cap);

/* The effective uid and gid of a process (/proc/PID/status, the second
 * number of Uid: and Gid:). 0, or -1 if it cannot be read. */
int poolstat_owner(pid_t pid, uid_t *uid, gid_t *gid);

/* Effective uid of process pid (/proc/PID/status), or -1 if it cannot be read. */
long poolstat_euid(pid_t pid);

/* The real and effective uid of a process (/proc/PID/status). 0, or -1. */
int poolstat_uids(pid_t pid, uid_t *real, uid_t *eff);

/* Does process pid map libpoolalloc: a mapping whose path's last component
 * starts with "libpoolalloc.so"? /proc/PID/maps is read without following a
 * link, at most 4 MiB, stopping at the first match. 1, 0, or -1 if it cannot
 * be read (gone, or not the caller's to read). */
int poolstat_maps_lib(pid_t pid);

/* Has the poolalloc in process pid started (docs/how-it-works.md "Start-up")?
 * A started one has its flush thread, named "poolalloc-flush", whatever its
 * options; one that has not has no thread of ours. Reads the comm of each
 * /proc/PID/task entry, at most 4096 threads. 1, 0, or -1 if it cannot tell. */
int poolstat_started(pid_t pid);

/* Why a process that maps libpoolalloc has no socket yet (docs/how-it-works.md
 * "Start-up"): the list's footnote and `poolstat PID`'s error say it alike. */
#define POOLSTAT_UNSTARTED_WHY                                                                     \
    "fewer than POOLALLOC_START_ALLOCS requests so far and none since it was POOLALLOC_START_MS " \
    "old; everything it allocated is the C library's (docs/how-it-works.md#start-up)"

/* Opens the folder `dir` (an absolute path) one component at a time, never
 * following a symbolic link, and checks the owners and modes (see struct
 * target) for a socket of `uid` named `name` in it; uid (uid_t)-1: the owner
 * of that socket (else of the folder), returned in *uid. Returns an O_PATH
 * descriptor, or -1: errno ENOENT (missing), EACCES (not ours to look at) or
 * EPERM (unsafe: why says so; *unsafe_fd is then the folder if it could be
 * opened, else -1: the caller closes it). */
int poolstat_open_dir(const char *dir, const char *name, uid_t *uid, char *why, size_t cap,
                      int *unsafe_fd);

/* Calls fn(uid, pid, arg) for each listening abstract socket named
 * "poolalloc-<uid>-<pid>" in /proc/net/unix (read bounded, parsed strictly:
 * another user chooses these names); stops early if fn returns nonzero.
 * Returns what the last fn returned, or 0. */
int poolstat_abstract_each(int (*fn)(unsigned long uid, long pid, void *arg), void *arg);

/* /proc entries one poolstat_proc_each looks at, at most. */
#define POOLSTAT_PROC_MAX 65536

/* Whose processes poolstat_proc_each hands on when the caller is not root
 * (root: every process whose uids can be read). */
enum poolstat_whose {
    POOLSTAT_EUID,          /* effective uid the caller's (`--prom --all`, export) */
    POOLSTAT_RUID_EUID,     /* real and effective uid the caller's (`poolstat` alone) */
};

/* Walks /proc (list.c): calls fn(pid, arg) for every process but poolstat
 * itself whose uids, read from /proc/PID/status, pass `whose`. A pid is only
 * a number here: fn checks what it reads of the process (trust.c), and the
 * process may end or be replaced meanwhile. Past POOLSTAT_PROC_MAX entries
 * one line on stderr ("looked at the first N processes<what>, not at the
 * rest") ends the walk. Stops early if fn returns nonzero. Returns what the
 * last fn returned, or 0. */
int poolstat_proc_each(enum poolstat_whose whose, const char *what,
                       int (*fn)(long pid, void *arg), void *arg);

/* `poolstat` alone: the table of live processes (abstract names, socket
 * files in the default folders, processes that map libpoolalloc); removes
 * the stale socket files of the caller's own uid (never another user's). */
int poolstat_list(void);

/* malloc/realloc that end the program with a message instead of returning NULL. */
void *poolstat_xrealloc(void *p, size_t n);
#define poolstat_xmalloc(n) poolstat_xrealloc(NULL, (n))

/* `poolstat -w`: the refreshing view. */
struct watch_opts {
    double interval;        /* seconds between refreshes */
    long count;             /* frames to show, 0 = until q or Ctrl-C */
    char sort;              /* sort key (see watch.c) */
};
int poolstat_watch(const struct target *t, const struct watch_opts *o);

#endif
