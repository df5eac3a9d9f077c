/* cmd_convert.c — `expert-dist import` and `export`: GPT-2 models in the Hugging Face
 * layout in and out (the work is src/hf/, include/expert/hf.h). Rank 0 converts; the
 * others learn the outcome so every rank exits with the same status. */
#include "expert/commands.h"
#include "expert/hf.h"
#include "expert/trainer.h"

static int on_rank0(const ed_dist *d, int (*fn)(const char *, const char *, FILE *, ed_error *), const char *in,
                    const char *out, int quiet) {
    ed_error err = {{0}};
    int status = d->rank == 0 ? fn(in, out, quiet ? NULL : stdout, &err) : 0;
    if (ed_dist_agree(d, status, &err) != 0) {
        if (d->rank == 0) fprintf(stderr, "expert-dist: error: %s\n", err.msg), ed_signals_quiet();
        return ED_EXIT_FAILURE;
    }
    return ED_EXIT_OK;
}

/* Both commands share the option fields of train rather than adding two: the input
 * (MODEL_DIR or CHECKPOINT) arrives in o->checkpoint and the output (`-o`, or the second
 * positional argument) in o->checkpoint_dir, which here is a path to write, not a
 * directory of checkpoints: import writes one .h5 file there, export a model directory.
 * src/cli/main.c requires the output to be given, so the "checkpoints" default never
 * applies. */
static const char *convert_input(const ed_options *o) { return o->checkpoint; }
static const char *convert_output(const ed_options *o) { return o->checkpoint_dir; }

int ed_import(const ed_options *o, const ed_dist *d) {
    return on_rank0(d, ed_hf_import, convert_input(o), convert_output(o), o->quiet);
}

int ed_export(const ed_options *o, const ed_dist *d) {
    return on_rank0(d, ed_hf_export, convert_input(o), convert_output(o), o->quiet);
}
