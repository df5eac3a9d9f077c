/* open_checkpoint.c — the one way resume, eval and generate open a checkpoint: the
 * options it dictates to the command (ed_options_dictate: the options table's ckpt
 * column), its tokenizer and a model of its shape holding its weights. */
#include <string.h>

#include "expert/checkpoint.h"
#include "expert/trainer.h"

int ed_trainer_open_checkpoint(const char *path, ed_command cmd, ed_options *o, const ed_machine *mach,
                               ed_tokenizer **tok, ed_gpt **model, ed_dictated *dict, ed_error *err) {
    *tok = NULL;
    *model = NULL;
    ed_dictated local;
    if (!dict) dict = &local;
    memset(dict, 0, sizeof *dict);
    /* every stored value (over the caller's, so an option an older file lacks keeps it) */
    ed_options stored = *o;
    if (ed_ckpt_read_options(path, ED_CMD_INSPECT, &stored, err) != 0) return -1;
    ed_options_dictate(o, &stored, cmd, dict);
    /* eval and generate cannot honour a flag the checkpoint overrules: refused before the
     * weights are read (a resume warns instead: trainer_setup) */
    if (cmd != ED_CMD_TRAIN && dict->n_flags > 0)
        return ed_fail(err, "%s: the checkpoint fixes %s, so %s cannot apply (drop %s)", path, dict->stored,
                       dict->n_flags == 1 ? "this flag" : "these flags", dict->user);
    *tok = ed_ckpt_read_tokenizer(path, err);
    if (!*tok) return -1;
    *model = ed_trainer_make_model(o, ed_tok_vocab_size(*tok), mach, err);
    if (*model && ed_ckpt_read_model(path, *model, err) == 0) return 0;
    if (*model) ed_gpt_free(*model);
    ed_tok_free(*tok);
    *tok = NULL;
    *model = NULL;
    return -1;
}
