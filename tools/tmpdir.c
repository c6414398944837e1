/* tmpdir.c — a private temporary directory that is removed however kiln
 * ends: normally, on an error, or killed by any signal (SIGKILL included).
 *
 * Signal handlers cannot do this reliably (SIGKILL has none, and removing
 * a tree is not async-signal-safe), so the removal is a separate process:
 * at creation a child is forked that holds the read end of a pipe whose
 * write end only kiln holds (close-on-exec, so the compilers kiln starts
 * do not keep it open). When kiln exits, for whatever reason, the kernel
 * closes the write end, the child's read returns 0, and the child removes
 * the tree. The child is in a session of its own and ignores the
 * terminal's signals, so a ^C that stops kiln (and its compilers) does not
 * stop the cleanup. A normal end removes the tree in kiln itself and reaps
 * the child, so that nothing is left running or on disk when kiln returns.
 */
#define _GNU_SOURCE
#include "tools/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* Remove the tree; a compiler still writing into it (its parent was just
 * killed) may add a file after the walk, so walk again while it exists. */
static void remove_tree(const char *path)
{
    for (int tries = 0; tries < 50 && access(path, F_OK) == 0; tries++) {
        nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        if (access(path, F_OK) == 0)
            nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
}

static void cleaner(const char *path, int fd)
{
    char c;
    setsid();
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    int null = open("/dev/null", O_RDWR);
    for (int k = 0; k < 3 && null >= 0; k++)
        dup2(null, k);
    /* nothing else kiln had open (a test's pipes...) stays open here */
    for (int k = 3; k < fd; k++)
        close(k);
    closefrom(fd + 1);
    while (read(fd, &c, 1) != 0 && (errno == EINTR || errno == EAGAIN))
        ;
    remove_tree(path);
    _exit(0);
}

kiln_status driver_tmpdir_create(kiln_ctx *ctx, const char *prefix, driver_tmpdir *t)
{
    const char *base = getenv("TMPDIR");
    int fds[2];
    t->guard = -1;
    t->cleaner = -1;
    if (!base || !*base)
        base = "/tmp";
    if (snprintf(t->path, sizeof t->path, "%s/%s_XXXXXX", base, prefix) >= (int)sizeof t->path ||
        !mkdtemp(t->path))
        return kiln_error(ctx, KILN_ERR_IO, "cannot create a temporary directory in %s: %s "
                          "(set TMPDIR to a writable directory)", base, strerror(errno));
    if (pipe2(fds, O_CLOEXEC) != 0) {
        rmdir(t->path);
        return kiln_error(ctx, KILN_ERR_IO, "cannot create a pipe: %s", strerror(errno));
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[1]);
        cleaner(t->path, fds[0]);
    }
    close(fds[0]);
    if (pid < 0) {
        close(fds[1]);
        rmdir(t->path);
        return kiln_error(ctx, KILN_ERR_IO, "cannot start a process: %s", strerror(errno));
    }
    t->guard = fds[1];
    t->cleaner = pid;
    return KILN_OK;
}

void driver_tmpdir_remove(driver_tmpdir *t)
{
    if (t->cleaner < 0)
        return;
    remove_tree(t->path);
    close(t->guard);
    while (waitpid(t->cleaner, NULL, 0) < 0 && errno == EINTR)
        ;
    t->cleaner = -1;
    t->guard = -1;
}
