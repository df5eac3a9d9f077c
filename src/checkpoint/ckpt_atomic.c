/* ckpt_atomic.c — the last step of a checkpoint write: make the finished <path>.tmp
 * durable, then atomically replace <path> with it.
 *
 * Order matters: the data must be on disk (fsync of the file) before the rename makes
 * it visible under the real name, and the rename itself is only durable once the
 * directory entry is on disk (fsync of the directory). A crash or SIGKILL at any point
 * leaves either the old <path> or the new one, never a mixture; at worst a stale .tmp
 * remains, which readers never look at and the next write truncates. */
#include "ckpt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ckpt_tmp_path(const char *path, char *buf, size_t len) {
    int n = snprintf(buf, len, "%s.tmp", path);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int ckpt_write_durable(int fd, const char *tmp, const void *data, size_t n, ed_error *err) {
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            close(fd);
            return ed_fail(err, "%s: cannot write checkpoint: %s", tmp, strerror(e));
        }
        p += w;
        n -= (size_t)w;
    }
    /* Data on disk before the rename makes it visible under the real name. */
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return ed_fail(err, "%s: fsync failed: %s", tmp, strerror(e));
    }
    if (close(fd) != 0) return ed_fail(err, "%s: close failed: %s", tmp, strerror(errno));
    return 0;
}

int ckpt_commit(const char *tmp, const char *path, ed_error *err) {
    /* Test hook (documented in docs/checkpoint-format.md): die exactly in the window
     * where the new file is complete but not yet visible, to prove the old one survives. */
    const char *kill_env = getenv("ED_CKPT_DEBUG_KILL_BEFORE_RENAME");
    if (kill_env && strcmp(kill_env, "1") == 0) raise(SIGKILL);

    if (rename(tmp, path) != 0)
        return ed_fail(err, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));

    char dir[ED_PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, sizeof dir, ".");
    } else if (slash == path) {
        snprintf(dir, sizeof dir, "/");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir) n = sizeof dir - 1;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    /* EINVAL means the filesystem does not support syncing directories (some network and
     * FUSE filesystems): nothing more can be done there, so it is not a failure. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0) return ed_fail(err, "%s: cannot open directory %s: %s", path, dir, strerror(errno));
    int rc = fsync(dfd) != 0 && errno != EINVAL ? -1 : 0;
    int e = errno;
    close(dfd);
    if (rc < 0) return ed_fail(err, "%s: fsync of directory %s failed: %s", path, dir, strerror(e));
    return 0;
}
