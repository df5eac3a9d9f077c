/* cmd_verify.c — `expert-dist verify DATA.h5`: the full integrity scan of a prepared token
 * file (every id, every document boundary), which `train` no longer pays for at start-up.
 * Rank 0 reads the file; the others only learn the verdict. */
#include <stdio.h>

#include "expert/commands.h"
#include "expert/prepared.h"

int ed_verify(const ed_options *o, const ed_dist *d) {
    ed_error err = {{0}};
    if (!o->data_file[0]) {
        if (d->rank == 0) fprintf(stderr, "expert-dist: verify needs a prepared file (DATA.h5 or --data-file)\n");
        return ED_EXIT_USAGE;
    }
    ed_prepared_info info;
    double t0 = ed_now();
    int status = 0;
    if (d->rank == 0) status = ed_prepared_verify(o->data_file, &info, &err);
    if (ed_dist_agree(d, status, &err) != 0) {
        if (d->rank == 0) fprintf(stderr, "expert-dist: %s\n", err.msg);
        return ED_EXIT_FAILURE;
    }
    if (d->rank == 0 && !o->quiet) {
        char shape[96] = "no window index";
        if (info.window_max_length)
            snprintf(shape, sizeof shape, "window index for --max-length %d --stride %d", info.window_max_length,
                     info.window_stride);
        printf("%s: ok: %s tokenizer, vocab %lld, %s ids; train %llu docs %llu tokens; val %llu docs %llu tokens; "
               "%s (%.2f s)\n",
               o->data_file, info.tokenizer_kind, (long long)info.vocab_size, info.token_dtype,
               (unsigned long long)info.n_docs[0], (unsigned long long)info.n_tokens[0],
               (unsigned long long)info.n_docs[1], (unsigned long long)info.n_tokens[1], shape, ed_now() - t0);
    }
    return ED_EXIT_OK;
}
