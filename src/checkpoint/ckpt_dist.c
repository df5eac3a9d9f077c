/* ckpt_dist.c — the collective save the trainer calls: rank 0 writes, everyone learns
 * the outcome.
 *
 * Only rank 0 touches the file system and only rank 0 reads `c` (other ranks may pass
 * NULL), so a ZeRO run gathers the optimizer shards to rank 0 first and the other ranks
 * need no full-size buffers. The status and message are broadcast so that every rank
 * returns the same value and a failed write (disk full, permissions) stops the job on
 * all ranks together instead of leaving some waiting in the next collective. */
#include "ckpt_internal.h"

#include <string.h>

int ed_ckpt_save_collective(MPI_Comm comm, const char *path, const ed_ckpt_contents *c,
                            int compress, ed_error *err) {
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    struct {
        int status;
        char msg[sizeof(((ed_error *)0)->msg)];
    } res;
    memset(&res, 0, sizeof res);
    if (rank == 0) {
        ed_error e = {{0}};
        res.status = ed_ckpt_write(path, c, compress, &e);
        memcpy(res.msg, e.msg, sizeof res.msg);
        res.msg[sizeof res.msg - 1] = '\0';
    }
    int rc = MPI_Bcast(&res, (int)sizeof res, MPI_BYTE, 0, comm);
    ED_CHECK(rc == MPI_SUCCESS, "MPI_Bcast of the checkpoint status failed (%d)", rc);
    if (res.status != 0) return ed_fail(err, "%s", res.msg);
    return 0;
}
