/* train_consistency.c — what the trainer fingerprints at start-up so that every rank
 * provably trains on the same thing (the machinery is src/comm/consistency.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expert/consistency.h"
#include "trainer_internal.h"

static ed_fingerprint tokens_fp(const char *what, const ed_dataset *ds, const char *file) {
    return (ed_fingerprint){what, "tokens", file, ds->n_tokens, ed_dataset_fingerprint(ds)};
}

int trainer_check_consistent(ed_trainer *t, ed_error *err) {
    const ed_options *o = t->o;
    if (t->d->world == 1) return 0;
    /* Options first: a different --config on one node explains the rest. */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ED_CHECK(f != NULL, "open_memstream failed");
    ed_options_print(o, f);
    fclose(f);
    int status = ed_dist_check_lines(t->d, "options", text, "the command line and --config file on each node", err);
    free(text);
    if (status != 0) return -1;

    size_t tok_len = 0;
    char *blob = ed_tok_serialize(t->tok, &tok_len);
    const char *tok_file = t->resume_path[0] ? t->resume_path : o->data_file[0] ? o->data_file : o->vocab_file;
    const char *train_file = o->data_file[0] ? o->data_file : o->train_file;
    const char *val_file = o->data_file[0] ? o->data_file : o->val_file;
    ed_fingerprint fp[3];
    int n = 0;
    fp[n++] = (ed_fingerprint){"tokenizer", "bytes", tok_file, tok_len, ed_hash_bytes(blob, tok_len)};
    fp[n++] = tokens_fp("training tokens", &t->train_ds, train_file);
    if (t->has_val) fp[n++] = tokens_fp("validation tokens", &t->val_ds, val_file);
    status = ed_dist_check_fingerprints(t->d, fp, n, err);
    free(blob);
    return status;
}
