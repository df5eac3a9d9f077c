/* cmd_convert.c — `expert-dist import` and `export`: GPT-2 models in the Hugging Face
 * layout in and out (the work is src/hf/, include/expert/hf.h). Rank 0 converts; the
 * others learn the outcome so every rank exits with the same status. */
#include "expert/commands.h"
#include "expert/hf.h"

static int on_rank0(const ed_dist *d, int (*fn)(const char *, const char *, FILE *, ed_error *), const char *in,
                    const char *out, int quiet) {
    ed_error err = {{0}};
    int status = d->rank == 0 ? fn(in, out, quiet ? NULL : stdout, &err) : 0;
    if (ed_dist_agree(d, status, &err) != 0) {
        if (d->rank == 0) fprintf(stderr, "expert-dist: error: %s\n", err.msg);
        return ED_EXIT_FAILURE;
    }
    return ED_EXIT_OK;
}

int ed_import(const ed_options *o, const ed_dist *d) {
    return on_rank0(d, ed_hf_import, o->checkpoint, o->checkpoint_dir, o->quiet);
}

int ed_export(const ed_options *o, const ed_dist *d) {
    return on_rank0(d, ed_hf_export, o->checkpoint, o->checkpoint_dir, o->quiet);
}
