/* ckpt_dist.c — the collective save: rank 0 writes, everyone learns the outcome.
 *
 * Only rank 0 touches the file system and only rank 0 reads `c` (other ranks may pass
 * NULL), so a ZeRO run gathers the optimizer shards to rank 0 first and the other ranks
 * need no full-size buffers. The outcome is agreed (ed_dist_agree: under the watchdog),
 * so a failed write (disk full, permissions) stops the job on all ranks together instead
 * of leaving some waiting in the next collective. */
#include "ckpt_internal.h"

int ed_ckpt_save_collective(const ed_dist *d, const char *path, const ed_ckpt_contents *c,
                            int compress, ed_error *err) {
    int status = d->rank == 0 ? ed_ckpt_write(path, c, compress, err) : 0;
    return ed_dist_agree(d, status, err);
}
