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

static int fsync_path(const char *p, int flags) {
    int fd = open(p, flags);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int ckpt_commit(const char *tmp, const char *path, ed_error *err) {
    if (fsync_path(tmp, O_RDONLY) != 0)
        return ed_fail(err, "%s: fsync failed: %s", tmp, strerror(errno));

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
    if (fsync_path(dir, O_RDONLY | O_DIRECTORY) != 0 && errno != EINVAL)
        return ed_fail(err, "%s: fsync of directory %s failed: %s", path, dir, strerror(errno));
    return 0;
}
