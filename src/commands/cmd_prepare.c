/* cmd_prepare.c — `expert-dist prepare`: tokenize the text once into an HDF5 token file
 * that `train --data-file` reads without parsing or tokenizing anything.
 * Collective: ranks split the documents (src/prepared/prepared_mpi.c), rank 0 writes. */
#include <stdio.h>
#include <string.h>

#include "expert/commands.h"
#include "expert/prepared.h"

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
    };
    ed_prepare_report rep;
    if (ed_prepare_files(d->comm, o->data_file, &po, &rep, &err) != 0) {
        if (d->rank == 0) fprintf(stderr, "expert-dist: %s\n", err.msg);
        return ED_EXIT_FAILURE;
    }
    if (d->rank == 0 && !o->quiet)
        printf("prepared %s: %s tokenizer, vocab %d; train %llu docs %llu tokens; val %llu docs %llu tokens; "
               "%.2f s on %d rank(s)\n",
               o->data_file, ed_tok_kind_names[rep.kind], rep.vocab_size,
               (unsigned long long)rep.n_docs[0], (unsigned long long)rep.n_tokens[0],
               (unsigned long long)rep.n_docs[1], (unsigned long long)rep.n_tokens[1], rep.seconds, d->world);
    return ED_EXIT_OK;
}
