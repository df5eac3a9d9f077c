/* cmd_prepare.c — `expert-dist prepare`: tokenize the text once into an HDF5 token file
 * that `train --data-file` reads without parsing or tokenizing anything.
 * Collective and streaming: ranks take byte ranges of the inputs, tokenize them into
 * temporary spills, rank 0 writes (src/prepared/prepared_files.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expert/commands.h"
#include "expert/prepared.h"
#include "expert/progress.h"

int ed_prepare(const ed_options *o, const ed_dist *d) {
    ed_error err = {{0}};
    if (!o->data_file[0]) {
        if (d->rank == 0) fprintf(stderr, "expert-dist: prepare needs --data-file OUT.h5 (the file to write)\n");
        return ED_EXIT_USAGE;
    }
    int over = 0;
    ed_set_threads(ed_dist_threads(d, o->threads, &over));
    ed_prepare_options po = {
        .train_file = o->train_file,
        .val_file = o->val_file,
        .read = {.text_field = o->text_field, .skip_bad_lines = o->skip_bad_lines,
                 .format = o->format},
        .vocab_file = o->vocab_file,
        .tok = {.kind = o->tokenizer,
                .vocab_size = o->vocab_size, .min_freq = o->min_freq, .lowercase = o->lowercase},
        /* the window index for the shape training will use (--max-length/--stride) */
        .win = {.max_length = o->max_length, .stride = o->stride},
    };
    po.progress = ed_progress_bar_wanted(stderr); /* the same rule as train's bar */
    if (o->quiet) po.progress = 0;
    ed_prepare_report rep;
    if (ed_prepare_files(d->comm, o->data_file, &po, &rep, &err) != 0) {
        if (d->rank == 0) fprintf(stderr, "expert-dist: %s\n", err.msg);
        return ED_EXIT_FAILURE;
    }
    if (d->rank == 0) ed_docs_warn_skipped(rep.skipped[0] + rep.skipped[1], rep.first_bad);
    /* every rank's memory peaks, to rank 0 (collective: before any rank returns) */
    ed_mem_usage *mem = ed_calloc((size_t)d->world, sizeof *mem);
    ed_dist_peak_memory(d, &rep.mem, mem);
    if (d->rank == 0 && !o->quiet) {
        printf("prepared %s: %s tokenizer, vocab %d; train %llu docs %llu tokens; val %llu docs %llu tokens; "
               "%zu input file(s), %.1f MB in %.2f s (%.1f MB/s) on %d rank(s); window index for --max-length %d "
               "--stride %d\n",
               o->data_file, ed_tok_kind_names[rep.kind], rep.vocab_size,
               (unsigned long long)rep.n_docs[0], (unsigned long long)rep.n_tokens[0],
               (unsigned long long)rep.n_docs[1], (unsigned long long)rep.n_tokens[1], rep.n_files,
               rep.input_bytes / 1e6, rep.seconds, rep.input_bytes / 1e6 / (rep.seconds > 0 ? rep.seconds : 1e-9),
               d->world, o->max_length, o->stride);
        if (rep.vocab_pieces)
            printf("vocabulary: %llu distinct pieces counted (%.1f MB of counts on rank 0) and built in %.2f s\n",
                   (unsigned long long)rep.vocab_pieces, rep.vocab_bytes / 1e6, rep.vocab_seconds);
        ed_mem_print(stdout, mem, d->world);
    }
    free(mem);
    return ED_EXIT_OK;
}
