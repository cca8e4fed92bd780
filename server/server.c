/* SPDX-License-Identifier: MIT */
/* server.c - the stats socket server's thread: the socket made and made
 * again, clients accepted and polled, start, fork and exit (see server.h; a
 * client's request and reply: conn.h). Nothing here calls malloc. */
#define _GNU_SOURCE
#include "server.h"

#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../core/log.h"
#include "../core/options.h"
#include "../core/orphan.h"
#include "../core/thread.h"
#include "conn.h"
#include "fd.h"
#include "reply.h"
#include "sockpath.h"

#define ACCEPT_BATCH 64

static const struct opt_values *srv_opts;
static int srv_wanted;                   /* a server should run in this process */
static int srv_handshake;                /* 0, then 1 (shared table) or 2 (private) */
static pid_t srv_owner;                  /* pid that bound srv_place; 0: none */
static struct sock_place srv_place;      /* where the socket is, as bound */
/* What a fork child forgets of its parent's server (server_fork_child):
 * PA_FORKPAGE. The client slots are emptied by the child's own start. */
static int srv_private PA_FORKPAGE;      /* the thread has its own descriptor table */
static struct owned_fd srv_listen PA_FORKPAGE = {-1, 0, 0};
/* relisten() makes the socket file again; server_stop() removes it at exit.
 * The lock orders the two: after server_stop, no file is made again (the
 * thread may run late, after main returned, and would leave one behind). */
static int srv_file_lock PA_FORKPAGE;    /* 0 free, 1 held (a few syscalls) */
static int srv_stopping PA_FORKPAGE;     /* server_stop ran: make no file */
static struct conn srv_conn[SERVER_SLOTS];

/* The one warning line of a refused socket. */
static void warn(struct logbuf *why)
{
    struct logbuf b = {0};
    log_str(&b, "poolalloc: no stats socket: ");
    log_mem(&b, why->buf, why->len);
    log_str(&b, " (POOLALLOC_SOCKET=off silences this)\n");
    log_flush(&b, 2);
}

/* What a `config` reply says of this server, as it is now. */
static const struct reply_server *self(void)
{
    static struct reply_server s;
    s = (struct reply_server){srv_opts, srv_place.path, srv_private};
    return &s;
}

/* Our uid or root only. */
static int peer_allowed(int fd)
{
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
        return 0;
    return cr.uid == 0 || cr.uid == geteuid();
}

static void accept_some(uint64_t now)
{
    for (int k = 0; k < ACCEPT_BATCH; k++) {
        if (!fd_still_ours(&srv_listen))
            return;
        int fd = sock_high_fd(accept4(srv_listen.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (fd < 0)
            return;
        struct conn *c = NULL, *oldest = &srv_conn[0];
        for (int i = 0; i < SERVER_SLOTS; i++) {
            if (srv_conn[i].o.fd < 0) {
                c = &srv_conn[i];
                break;
            }
            if (srv_conn[i].since_ms < oldest->since_ms)
                oldest = &srv_conn[i];
        }
        if (!c) {
            /* An error line only to one still sending its request: one
             * being answered just sees its reply end early (no `end`). */
            conn_fail(oldest, "too many clients at once; yours waited longest, try again");
            c = oldest;
        }
        if (fd_own(&c->o, fd) != 0) {
            close(fd);
            c->o.fd = -1;
            continue;
        }
        c->len = 0;
        c->since_ms = now;
        c->deadline_ms = now + SERVER_REQUEST_MS;
        if (!peer_allowed(fd)) {
            conn_fail(c, "permission denied: only the process's own user and root may ask");
            continue;
        }
        /* Fewer rounds for a large reply; the socket stays non-blocking. */
        int sndbuf = 256 * 1024;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        conn_read(c, self());   /* an honest client has usually sent its line already */
    }
}

static void file_lock(void)
{
    while (__atomic_exchange_n(&srv_file_lock, 1, __ATOMIC_ACQUIRE))
        sched_yield();
}

static void file_unlock(void)
{
    __atomic_store_n(&srv_file_lock, 0, __ATOMIC_RELEASE);
}

/* relisten() with the file lock held and the process not ending. */
static void relisten_locked(void)
{
    if (!fd_still_ours(&srv_listen))
        srv_listen.fd = -1;   /* the program's number now: never poll it */
    int fd = sock_relisten(&srv_place);
    if (fd < 0)
        return;
    fd_release(&srv_listen);
    if (fd_own(&srv_listen, fd) != 0) {
        close(fd);
        srv_listen.fd = -1;
    }
}

/* The listening socket is gone (a program closed it: shared table) or its
 * file was removed: make both again, unless the process is ending. The
 * thread is silent: it does not know what fd 2 is any more. */
static void relisten(void)
{
    if (fd_still_ours(&srv_listen) && sock_still_ours(&srv_place))
        return;
    file_lock();
    if (!srv_stopping)
        relisten_locked();
    file_unlock();
}

static void serve(void)
{
    static struct pollfd pfd[SERVER_SLOTS + 1];
    uint64_t next_check = 0;
    for (;;) {
        uint64_t now = conn_now_ms();
        /* Shared table: check the listener every round; the file, every second. */
        if (!fd_still_ours(&srv_listen) || now >= next_check) {
            relisten();
            next_check = now + 1000;
        }
        int timeout = srv_listen.fd >= 0 ? 1000 : 200;
        nfds_t n = 0;
        if (srv_listen.fd >= 0)
            pfd[n++] = (struct pollfd){.fd = srv_listen.fd, .events = POLLIN};
        for (int i = 0; i < SERVER_SLOTS; i++) {
            struct conn *c = &srv_conn[i];
            if (c->o.fd < 0)
                continue;
            pfd[n++] = (struct pollfd){.fd = c->o.fd, .events = c->out ? POLLOUT : POLLIN};
            int left = c->deadline_ms > now ? (int)(c->deadline_ms - now) : 0;
            if (left < timeout)
                timeout = left;
        }
        int rc = poll(pfd, n, timeout);
        now = conn_now_ms();
        if (rc < 0 && errno != EINTR) {
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        for (nfds_t k = 0; rc > 0 && k < n; k++) {
            if (!pfd[k].revents || pfd[k].fd == srv_listen.fd)
                continue;
            for (int i = 0; i < SERVER_SLOTS; i++)
                if (srv_conn[i].o.fd == pfd[k].fd) {
                    if (srv_conn[i].out)
                        conn_write(&srv_conn[i]);
                    else
                        conn_read(&srv_conn[i], self());
                    break;
                }
        }
        for (int i = 0; i < SERVER_SLOTS; i++) {
            struct conn *c = &srv_conn[i];
            if (c->o.fd < 0 || now < c->deadline_ms)
                continue;
            if (c->out)
                conn_close(c);   /* it stopped reading: its reply ends there */
            else
                conn_fail(c, "no request within the time allowed; try help");
        }
        if (rc > 0 && srv_listen.fd >= 0 && pfd[0].fd == srv_listen.fd && pfd[0].revents)
            accept_some(now);
    }
}

static long futex(int *addr, int op, int val, const struct timespec *ts)
{
    return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

/* Every descriptor of our own table but keep. */
static void close_others(int keep)
{
    if (keep > 0 && close_range(0, (unsigned)keep - 1, 0) != 0 && errno == ENOSYS) {
        for (int fd = 0; fd < keep; fd++)
            close(fd);
    }
    if (close_range((unsigned)keep + 1, ~0u, 0) != 0 && errno == ENOSYS) {
        for (int fd = keep + 1; fd < 65536; fd++)
            close(fd);
    }
}

static void *server_main(void *arg)
{
    (void)arg;
    orphan_own_thread();
    int state = 1;
    if (unshare(CLONE_FILES) == 0) {
        /* Our own copy of the table: drop the program's files from it at
         * once, or a pipe the program closes would never see its end. */
        close_others(srv_listen.fd);
        state = 2;
    }
    __atomic_store_n(&srv_handshake, state, __ATOMIC_RELEASE);
    futex(&srv_handshake, FUTEX_WAKE_PRIVATE, 1, NULL);
    serve();
    return NULL;
}

/* Binds and starts the thread for this pid. Warnings go to stderr. */
static void start_here(void)
{
    struct logbuf why = {0};
    pid_t pid = getpid();
    struct sock_place pl = {0};
    int fd = sock_listen(pid, (int)srv_opts->verbose, &pl, &why);
    if (fd < 0) {
        srv_wanted = 0;   /* fork children would fail the same way: no retry, no repeat */
        warn(&why);
        return;
    }
    srv_place = pl;
    srv_owner = pid;
    fd_own(&srv_listen, fd);
    /* Empty, also in a fork child: its slots were its parent's, and replies
     * in the making were not copied (MADV_DONTFORK). */
    for (int i = 0; i < SERVER_SLOTS; i++) {
        srv_conn[i].o.fd = -1;
        srv_conn[i].out = NULL;
        srv_conn[i].out_len = srv_conn[i].out_sent = srv_conn[i].out_cap = 0;
    }

    srv_handshake = 0;
    if (pa_thread_start(server_main, 64 * 1024, "poolalloc-stats") != 0) {
        close(fd);
        srv_listen.fd = -1;
        sock_remove(&srv_place);
        srv_owner = 0;
        srv_wanted = 0;
        why.len = 0;
        log_str(&why, "cannot start the server thread");
        warn(&why);
        return;
    }
    /* Wait for the thread to say whose table it uses (microseconds). With a
     * private table of its own, our copy of the listener is closed here. */
    struct timespec ts = {5, 0};
    while (__atomic_load_n(&srv_handshake, __ATOMIC_ACQUIRE) == 0) {
        if (futex(&srv_handshake, FUTEX_WAIT_PRIVATE, 0, &ts) != 0 && errno == ETIMEDOUT)
            break;
    }
    if (__atomic_load_n(&srv_handshake, __ATOMIC_ACQUIRE) == 2) {
        srv_private = 1;
        struct owned_fd mine = srv_listen;
        fd_release(&mine);
    }
    /* Our thread keeps the process alive after the program's last thread
     * ends: the flush thread, which called us, watches for that. */
}

int server_configure(const struct opt_values *opts)
{
    srv_opts = opts;
    srv_wanted = 0;
    /* A set-uid (or otherwise secure) program runs with the rights of
     * another user than the one who started it: no socket there, as glibc
     * ignores its MALLOC_* tunables there. */
    if (getauxval(AT_SECURE) != 0)
        return 0;
    const char *t = opts->socket;
    if (t[0] == 'o' && t[1] == 'f' && t[2] == 'f' && !t[3])
        return 0;
    sock_configure(t, getenv("XDG_RUNTIME_DIR"));
    srv_wanted = 1;
    return 1;
}

void server_start(void)
{
    if (srv_wanted && srv_owner != getpid())
        start_here();
}

void server_fork_child(void)
{
    if (!srv_owner)
        return;   /* no server was ever started: nothing to undo (nor a page to copy) */
    /* Only the forking thread exists here. With a shared table the child
     * inherited the parent's listener and clients: close them, if they are
     * still what we made. */
    if (!srv_private) {
        fd_release(&srv_listen);
        for (int i = 0; i < SERVER_SLOTS; i++)
            fd_release(&srv_conn[i].o);
    }
    srv_listen.fd = -1;
    srv_private = 0;
    srv_file_lock = 0;   /* the parent's thread may have held it: it is not here */
    srv_stopping = 0;
    /* The client slots are left as they were (their pages stay shared with
     * the parent): nothing reads them before the child's own server is
     * started by server_start(), from the child's own flush thread once it
     * has lived its start time (preload/init.c), and start_here() empties
     * them. */
}

void server_stop(void)
{
    if (!srv_owner || srv_owner != getpid())
        return;
    file_lock();
    srv_stopping = 1;
    sock_remove(&srv_place);
    file_unlock();
}
