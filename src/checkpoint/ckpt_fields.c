/* ckpt_fields.c — which fields of ed_model_config and ed_train_state a checkpoint holds
 * (the /history columns are the kept columns of the history's own table, ed_columns).
 *
 * One table each, read by both the writer and the reader, so a field added to
 * gpt.h's config or train_state.h needs exactly one new line here (tests/checkpoint checks the struct
 * size to catch a forgotten one). Names are the attribute/dataset names in the file. */
#include <stddef.h>

#include "ckpt_internal.h"

const ckpt_field ckpt_state_fields[] = {
    {"epoch", CKPT_F_INT, offsetof(ed_train_state, epoch), 1, 0},
    {"step_in_epoch", CKPT_F_LONG, offsetof(ed_train_state, step_in_epoch), 1, 0},
    {"epoch_windows", CKPT_F_LONG, offsetof(ed_train_state, epoch_windows), 2, 0},
    {"global_step", CKPT_F_LONG, offsetof(ed_train_state, global_step), 1, 0},
    {"best_val_loss", CKPT_F_DOUBLE, offsetof(ed_train_state, best_val_loss), 1, 0},
    {"patience_best", CKPT_F_DOUBLE, offsetof(ed_train_state, patience_best), 2, 0},
    {"bad_evals", CKPT_F_INT, offsetof(ed_train_state, bad_evals), 1, 0},
    {"world_size", CKPT_F_INT, offsetof(ed_train_state, world_size), 1, 0},
    {"seed", CKPT_F_U64, offsetof(ed_train_state, seed), 1, 0},
    {"elapsed", CKPT_F_DOUBLE, offsetof(ed_train_state, elapsed), 1, 0},
    {"tokens_seen", CKPT_F_LONG, offsetof(ed_train_state, tokens_seen), 1, 0},
    {"stop", CKPT_F_INT, offsetof(ed_train_state, stop), 1, 0},
    {"epoch_loss_sum", CKPT_F_DOUBLE, offsetof(ed_train_state, epoch_loss_sum), 1, 0},
    {"epoch_count", CKPT_F_LONG, offsetof(ed_train_state, epoch_count), 1, 0},
    {"log_loss_sum", CKPT_F_DOUBLE, offsetof(ed_train_state, log_loss_sum), 1, 0},
    {"log_count", CKPT_F_LONG, offsetof(ed_train_state, log_count), 1, 0},
    {"nan_skipped", CKPT_F_LONG, offsetof(ed_train_state, nan_skipped), 1, 0},
    {"data_fingerprint", CKPT_F_U64, offsetof(ed_train_state, data_fingerprint), 2, 1},
    {NULL, CKPT_F_INT, 0, 0, 0},
};

/* The integer attributes of /model (dropout, a float, and num_params are separate). */
const ckpt_field ckpt_model_fields[] = {
    {"vocab_size", CKPT_F_INT, offsetof(ed_model_config, vocab_size), 1, 0},
    {"d_model", CKPT_F_INT, offsetof(ed_model_config, d_model), 1, 0},
    {"n_layers", CKPT_F_INT, offsetof(ed_model_config, n_layers), 1, 0},
    {"n_heads", CKPT_F_INT, offsetof(ed_model_config, n_heads), 1, 0},
    {"d_ff", CKPT_F_INT, offsetof(ed_model_config, d_ff), 1, 0},
    {"max_seq_len", CKPT_F_INT, offsetof(ed_model_config, max_seq_len), 1, 0},
    {NULL, CKPT_F_INT, 0, 0, 0},
};
