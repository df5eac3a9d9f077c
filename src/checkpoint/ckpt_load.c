/* ckpt_load.c — models from options and checkpoints (checkpoint.h): the one place a
 * command turns options, or a checkpoint, into a model it can run. */
#include <string.h>

#include "expert/checkpoint.h"
#include "expert/compute.h"

ed_gpt *ed_ckpt_model_new(const ed_options *o, int vocab, const ed_machine *mach, ed_error *err) {
    ed_model_config cfg = o->model;
    cfg.vocab_size = vocab;
    char msg[512] = "";
    ed_gpt *m = ed_gpt_create(&cfg, o->seed, msg, sizeof msg);
    if (!m) {
        ed_fail(err, "invalid model: %s", msg);
        return NULL;
    }
    ed_gpt_set_recompute(m, o->recompute);
    ed_machine probed;
    if (!mach) ed_machine_probe(&probed), mach = &probed;
    if (ed_gpt_set_compute(m, ed_gemm_backend_resolve(o->gemm, o->precision, mach), o->precision, msg, sizeof msg) != 0) {
        ed_fail(err, "--gemm %s: %s", ed_gemm_backend_names[o->gemm], msg);
        ed_gpt_free(m);
        return NULL;
    }
    return m;
}

int ed_ckpt_load(ed_ckpt *c, unsigned uses, ed_options *o, const ed_machine *mach, ed_tokenizer **tok,
                 ed_gpt **model, ed_dictated *dict, ed_error *err) {
    *tok = NULL;
    *model = NULL;
    ed_dictated local;
    int refuse = dict != NULL && uses != ED_CMD_TRAIN;
    if (!dict) dict = &local;
    memset(dict, 0, sizeof *dict);
    /* every stored value (over the caller's, so an option an older file lacks keeps it) */
    ed_options stored = *o;
    if (ed_ckpt_read_options(c, ED_CMD_INSPECT, &stored, err) != 0) return -1;
    ed_options_dictate(o, &stored, uses, dict);
    if (refuse && dict->n_flags > 0)
        return ed_fail(err, "%s: the checkpoint fixes %s, so %s cannot apply (drop %s)", ed_ckpt_path(c),
                       dict->stored, dict->n_flags == 1 ? "this flag" : "these flags", dict->user);
    *tok = ed_ckpt_read_tokenizer(c, err);
    if (!*tok) return -1;
    *model = ed_ckpt_model_new(o, ed_tok_vocab_size(*tok), mach, err);
    if (*model && ed_ckpt_read_model(c, *model, err) == 0) return 0;
    if (*model) ed_gpt_free(*model);
    ed_tok_free(*tok);
    *tok = NULL;
    *model = NULL;
    return -1;
}

int ed_ckpt_load_file(const char *path, unsigned uses, ed_options *o, const ed_machine *mach, ed_tokenizer **tok,
                      ed_gpt **model, ed_dictated *dict, ed_error *err) {
    if (dict) memset(dict, 0, sizeof *dict);
    ed_ckpt *c = ed_ckpt_open(path, err);
    int rc = c ? ed_ckpt_load(c, uses, o, mach, tok, model, dict, err) : -1;
    ed_ckpt_close(c);
    if (!c) *tok = NULL, *model = NULL;
    return rc;
}
