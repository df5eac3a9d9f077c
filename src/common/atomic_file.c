/* atomic_file.c — the one way expert-dist replaces a file (common.h): checkpoints, the
 * history, tokenizer files and prepared token files all go through it.
 *
 * Order matters: the data must be on disk (fsync of the file) before the rename makes
 * it visible under the real name, and the rename itself is only durable once the
 * directory entry is on disk (fsync of the directory). A crash or SIGKILL at any point
 * leaves either the old <path> or the new one, never a mixture; at worst a stale .tmp
 * remains, which readers never look at and the next write truncates. */
#include "expert/common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int ed_atomic_open(ed_atomic_file *a, const char *path, const char *what, ed_error *err) {
    a->fd = -1;
    a->path = path;
    a->what = what;
    int n = snprintf(a->tmp, sizeof a->tmp, "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof a->tmp) return ed_fail(err, "%s: path too long", path);
    a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (a->fd < 0) return ed_fail(err, "%s: cannot create %s: %s", path, a->tmp, strerror(errno));
    return 0;
}

void ed_atomic_abort(ed_atomic_file *a) {
    if (a->fd >= 0) close(a->fd);
    a->fd = -1;
    unlink(a->tmp);
}

int ed_atomic_write(ed_atomic_file *a, const void *data, size_t n, ed_error *err) {
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(a->fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            ed_atomic_abort(a);
            return ed_fail(err, "%s: cannot write %s: %s", a->tmp, a->what, strerror(e));
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int ed_atomic_sync(ed_atomic_file *a, ed_error *err) {
    /* Data on disk before the rename makes it visible under the real name. */
    if (fsync(a->fd) != 0) {
        int e = errno;
        ed_atomic_abort(a);
        return ed_fail(err, "%s: fsync failed: %s", a->tmp, strerror(e));
    }
    int rc = close(a->fd);
    a->fd = -1;
    if (rc != 0) {
        int e = errno;
        unlink(a->tmp);
        return ed_fail(err, "%s: close failed: %s", a->tmp, strerror(e));
    }
    return 0;
}

int ed_atomic_replace(const char *tmp, const char *path, ed_error *err) {
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ed_fail(err, "%s: cannot rename %s over it: %s", path, tmp, strerror(e));
    }
    char dir[4096];
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

int ed_atomic_commit(ed_atomic_file *a, ed_error *err) {
    if (ed_atomic_sync(a, err) != 0) return -1;
    return ed_atomic_replace(a->tmp, a->path, err);
}

int ed_write_file_atomic(const char *path, const void *data, size_t n, const char *what, ed_error *err) {
    ed_atomic_file a;
    if (ed_atomic_open(&a, path, what, err) != 0) return -1;
    if (ed_atomic_write(&a, data, n, err) != 0) return -1;
    return ed_atomic_commit(&a, err);
}

int ed_commit_written_file(const char *tmp, const char *path, ed_error *err) {
    /* The writer (HDF5) closed it; reopen to make its data durable before the rename. */
    int fd = open(tmp, O_RDONLY);
    if (fd < 0) {
        int e = errno;
        unlink(tmp);
        return ed_fail(err, "%s: cannot open %s: %s", path, tmp, strerror(e));
    }
    if (fsync(fd) != 0 && errno != EINVAL) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return ed_fail(err, "%s: fsync failed: %s", tmp, strerror(e));
    }
    close(fd);
    return ed_atomic_replace(tmp, path, err);
}
