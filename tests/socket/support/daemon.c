/* SPDX-License-Identifier: MIT */
/*
 * daemon.c - a program that, like a daemon, closes every descriptor it did
 * not open and then opens its own files, sockets and a listener; it then
 * checks that nobody else wrote to, read from or accepted on them.
 * Commands on stdin (fds 0-2 are kept for the test's pipes):
 *
 *   close   close fds 3..1023 and close_range(3, ~0); open 8 files in DIR
 *           with "mine\n", a socketpair, a listening socket DIR/own.sock -> "ok"
 *   churn   close and reopen the files (new numbers may be ours from before) -> "ok"
 *   alloc   a few thousand allocations and frees -> "ok"
 *   check   "ok", or "bad WHAT"
 * Usage: daemon DIR
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define NFILES 8
static const char *dir;
static int files[NFILES], pair[2] = {-1, -1}, lsn = -1;

static void say(const char *s)
{
    if (write(1, s, strlen(s)) < 0 || write(1, "\n", 1) < 0)
        _exit(3);
}

static void open_files(void)
{
    for (int i = 0; i < NFILES; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/file%d", dir, i);
        files[i] = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (files[i] < 0 || write(files[i], "mine\n", 5) != 5)
            _exit(4);
    }
}

static const char *check(void)
{
    static char why[128];
    for (int i = 0; i < NFILES; i++) {
        char buf[64];
        ssize_t n = pread(files[i], buf, sizeof buf, 0);
        if (n != 5 || memcmp(buf, "mine\n", 5)) {
            snprintf(why, sizeof why, "bad file%d (fd %d) holds %zd bytes", i, files[i], n);
            return why;
        }
        off_t off = lseek(files[i], 0, SEEK_CUR);
        if (off != 5) {
            snprintf(why, sizeof why, "bad file%d offset moved to %lld", i, (long long)off);
            return why;
        }
    }
    char c;
    if (recv(pair[1], &c, 1, MSG_DONTWAIT) != -1 || errno != EAGAIN)
        return "bad socketpair got data";
    int a = accept4(lsn, NULL, NULL, SOCK_NONBLOCK);
    if (a >= 0 || errno != EAGAIN)
        return "bad own listener had a connection";
    return "ok";
}

int main(int argc, char **argv)
{
    char line[64];
    dir = argc > 1 ? argv[1] : "/tmp";
    say("ready");
    for (;;) {
        size_t n = 0;
        char c;
        while (n + 1 < sizeof line && read(0, &c, 1) == 1 && c != '\n')
            line[n++] = c;
        line[n] = '\0';
        if (!n)
            return 0;
        if (!strcmp(line, "close")) {
            for (int fd = 3; fd < 1024; fd++)
                close(fd);
            close_range(3, ~0u, 0);
            open_files();
            if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0)
                return 5;
            struct sockaddr_un a = {.sun_family = AF_UNIX};
            snprintf(a.sun_path, sizeof a.sun_path, "%s/own.sock", dir);
            unlink(a.sun_path);
            lsn = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (bind(lsn, (struct sockaddr *)&a, sizeof a) || listen(lsn, 8))
                return 6;
            say("ok");
        } else if (!strcmp(line, "churn")) {
            for (int i = 0; i < NFILES; i++)
                close(files[i]);
            open_files();
            say("ok");
        } else if (!strcmp(line, "alloc")) {
            for (int i = 0; i < 5000; i++)
                free(malloc((size_t)(16 + i % 2000)));
            say("ok");
        } else if (!strcmp(line, "check")) {
            say(check());
        } else {
            say("unknown");
        }
    }
}
