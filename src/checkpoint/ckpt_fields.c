/* ckpt_fields.c — which fields of ed_model_config and ed_train_state a checkpoint holds
 * (the /history columns are the kept columns of the history's own table, ed_columns).
 *
 * One table each, read by both the writer and the reader, so a field added to
 * gpt.h's config or train_state.h needs exactly one new line here (tests/checkpoint checks the struct
 * size to catch a forgotten one). Names are the attribute/dataset names in the file. */
#include <stddef.h>

#include "ckpt_internal.h"

const ckpt_field ckpt_state_fields[] = {
    {"epoch", CKPT_F_INT, offsetof(ed_train_state, epoch), 1},
    {"step_in_epoch", CKPT_F_LONG, offsetof(ed_train_state, step_in_epoch), 1},
    {"epoch_windows", CKPT_F_LONG, offsetof(ed_train_state, epoch_windows), 2},
    {"global_step", CKPT_F_LONG, offsetof(ed_train_state, global_step), 1},
    {"best_val_loss", CKPT_F_DOUBLE, offsetof(ed_train_state, best_val_loss), 1},
    {"patience_best", CKPT_F_DOUBLE, offsetof(ed_train_state, patience_best), 2},
    {"bad_evals", CKPT_F_INT, offsetof(ed_train_state, bad_evals), 1},
    {"world_size", CKPT_F_INT, offsetof(ed_train_state, world_size), 1},
    {"seed", CKPT_F_U64, offsetof(ed_train_state, seed), 1},
    {"elapsed", CKPT_F_DOUBLE, offsetof(ed_train_state, elapsed), 1},
    {"tokens_seen", CKPT_F_LONG, offsetof(ed_train_state, tokens_seen), 1},
    {"stop", CKPT_F_INT, offsetof(ed_train_state, stop), 1},
    {"epoch_loss_sum", CKPT_F_DOUBLE, offsetof(ed_train_state, epoch_loss_sum), 1},
    {"epoch_count", CKPT_F_LONG, offsetof(ed_train_state, epoch_count), 1},
    {"log_loss_sum", CKPT_F_DOUBLE, offsetof(ed_train_state, log_loss_sum), 1},
    {"log_count", CKPT_F_LONG, offsetof(ed_train_state, log_count), 1},
    {"nan_skipped", CKPT_F_LONG, offsetof(ed_train_state, nan_skipped), 1},
    /* the fp16 loss scaler, added without a format version: a file written before it reads
     * as "no scaler" (the caller's scale 0) */
    {"loss_scale", CKPT_F_DOUBLE, offsetof(ed_train_state, scaler.scale), ED_SINCE_ANY},
    {"loss_scale_growth_tracker", CKPT_F_LONG, offsetof(ed_train_state, scaler.growth_tracker), ED_SINCE_ANY},
    {"loss_scale_skipped", CKPT_F_LONG, offsetof(ed_train_state, scaler.skipped), ED_SINCE_ANY},
    /* the training data's fingerprint (ed_dataset_fingerprint), added without a format
     * version: a file written before it reads as 0, "unknown", and is not checked */
    {"data_fingerprint", CKPT_F_U64, offsetof(ed_train_state, data_fingerprint), ED_SINCE_ANY},
    {NULL, CKPT_F_INT, 0, 0},
};

/* The integer attributes of /model (dropout, a float, and num_params are separate). */
const ckpt_field ckpt_model_fields[] = {
    {"vocab_size", CKPT_F_INT, offsetof(ed_model_config, vocab_size), 1},
    {"d_model", CKPT_F_INT, offsetof(ed_model_config, d_model), 1},
    {"n_layers", CKPT_F_INT, offsetof(ed_model_config, n_layers), 1},
    {"n_heads", CKPT_F_INT, offsetof(ed_model_config, n_heads), 1},
    {"d_ff", CKPT_F_INT, offsetof(ed_model_config, d_ff), 1},
    {"max_seq_len", CKPT_F_INT, offsetof(ed_model_config, max_seq_len), 1},
    {NULL, CKPT_F_INT, 0, 0},
};
