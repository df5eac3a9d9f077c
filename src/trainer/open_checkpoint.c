/* open_checkpoint.c — the one way resume, eval and generate open a checkpoint: the
 * options it dictates to the command (the options table's ckpt column), its tokenizer
 * and a model of its shape holding its weights. */
#include "expert/checkpoint.h"
#include "expert/trainer.h"

int ed_trainer_open_checkpoint(const char *path, ed_command cmd, ed_options *o, const ed_machine *mach,
                               ed_tokenizer **tok, ed_gpt **model, ed_error *err) {
    *tok = NULL;
    *model = NULL;
    if (ed_ckpt_read_options(path, cmd, o, err) != 0) return -1;
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
