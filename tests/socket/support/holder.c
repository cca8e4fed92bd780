/* SPDX-License-Identifier: MIT */
/*
 * holder.c - a program that holds exactly the allocations it is told to,
 * for the socket tests. Commands on stdin, one per line; answers on stdout
 * with write(2) (no stdio: nothing allocates but the commands):
 *
 *   alloc N SIZE   keep N new objects of SIZE bytes         -> "ok"
 *   free N SIZE    free N of the kept objects of that SIZE  -> "ok" / "none"
 *   fork           fork a child that allocates once (so its server starts)
 *                  and waits for `endchild`                  -> "child PID"
 *   endchild       end that child (it exits normally)        -> "ok"
 *   forkexec       fork a child that allocates, frees, then execs /bin/true
 *                  without the preload; wait for it         -> "exec PID"
 *   ping           -> "pong"
 * End of input or `quit`: exit 0. Prints "ready PID" first.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEEP_MAX 100000

static void *keep[KEEP_MAX];
static size_t keep_size[KEEP_MAX];
static int nkeep;
static int child_pipe = -1;
static pid_t child;

static void say(const char *s)
{
    size_t n = strlen(s);
    if (write(1, s, n) != (ssize_t)n || write(1, "\n", 1) != 1)
        _exit(3);
}

static void say_num(const char *word, long v)
{
    char buf[64];
    char d[24];
    int i = 23;
    d[i] = '\0';
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    strcpy(buf, word);
    strcat(buf, " ");
    strcat(buf, d + i);
    say(buf);
}

/* One line from stdin into buf; 0 at end of input. */
static int get_line(char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        char c;
        ssize_t r = read(0, &c, 1);
        if (r <= 0)
            return n > 0;
        if (c == '\n')
            break;
        buf[n++] = c;
    }
    buf[n] = '\0';
    return 1;
}

int main(void)
{
    char line[256];
    say_num("ready", getpid());
    while (get_line(line, sizeof line)) {
        long n = 0, size = 0;
        char *p = line;
        while (*p && *p != ' ')
            p++;
        if (*p) {
            n = strtol(p, &p, 10);
            size = strtol(p, &p, 10);
        }
        if (!strncmp(line, "alloc ", 6)) {
            for (long i = 0; i < n && nkeep < KEEP_MAX; i++) {
                keep[nkeep] = malloc((size_t)size);
                memset(keep[nkeep], 0x5a, (size_t)size);
                keep_size[nkeep++] = (size_t)size;
            }
            say("ok");
        } else if (!strncmp(line, "free ", 5)) {
            long done = 0;
            for (int i = nkeep - 1; i >= 0 && done < n; i--)
                if (keep[i] && keep_size[i] == (size_t)size) {
                    free(keep[i]);
                    keep[i] = NULL;
                    done++;
                }
            say(done == n ? "ok" : "none");
        } else if (!strcmp(line, "fork")) {
            int fds[2];
            if (pipe(fds) != 0)
                return 4;
            child = fork();
            if (child == 0) {
                close(fds[1]);
                /* The first request: the child's server starts. Kept in
                 * keep[] so the compiler cannot drop the pair. */
                void *p1 = keep[nkeep++] = malloc(100);
                say_num("child", getpid());
                char c;
                while (read(fds[0], &c, 1) > 0)
                    ;
                free(p1);
                keep[--nkeep] = NULL;
                exit(0);
            }
            close(fds[0]);
            child_pipe = fds[1];
        } else if (!strcmp(line, "forkexec")) {
            pid_t c = fork();
            if (c == 0) {
                /* What a shell does between fork and exec: a little work. */
                for (int i = 0; i < 64; i++) {
                    keep[nkeep] = malloc(200 + (size_t)i);
                    free(keep[nkeep]);
                }
                char *argv[] = {"true", NULL}, *envp[] = {NULL};
                execve("/bin/true", argv, envp);
                _exit(127);
            }
            int st;
            waitpid(c, &st, 0);
            say_num(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "exec" : "execfailed", c);
        } else if (!strcmp(line, "endchild")) {
            close(child_pipe);
            int st;
            waitpid(child, &st, 0);
            say(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "ok" : "bad");
        } else if (!strcmp(line, "ping")) {
            say("pong");
        } else if (!strcmp(line, "quit")) {
            break;
        } else {
            say("unknown");
        }
    }
    return 0;
}
