/* ckpt_at.h — path-based checkpoint reads for tests: each opens the file (one checksum
 * check), reads one part and closes it, as a test that looks at one part wants. The
 * engine itself keeps one ed_ckpt handle open for all its reads (checkpoint.h). */
#ifndef ED_TESTS_CKPT_AT_H
#define ED_TESTS_CKPT_AT_H

#include "expert/checkpoint.h"

#define ED_CKPT_AT(call)                            \
    ed_ckpt *c_ = ed_ckpt_open(path, err);          \
    if (!c_) return -1;                             \
    int rc_ = (call);                               \
    ed_ckpt_close(c_);                              \
    return rc_

static inline int at_read_options(const char *path, unsigned uses, ed_options *o, ed_error *err) {
    ED_CKPT_AT(ed_ckpt_read_options(c_, uses, o, err));
}
static inline int at_read_model(const char *path, ed_gpt *m, ed_error *err) {
    ED_CKPT_AT(ed_ckpt_read_model(c_, m, err));
}
static inline int at_read_optim(const char *path, ed_optim *o, const ed_gpt *m, ed_error *err) {
    ED_CKPT_AT(ed_ckpt_read_optim(c_, o, m, err));
}
static inline int at_read_state(const char *path, ed_train_state *s, ed_history *h, ed_error *err) {
    ED_CKPT_AT(ed_ckpt_read_state(c_, s, h, err));
}
static inline int at_read_info(const char *path, ed_ckpt_info *info, ed_error *err) {
    ED_CKPT_AT(ed_ckpt_read_info(c_, info, err));
}
static inline int at_print(const char *path, FILE *out, ed_error *err) {
    ED_CKPT_AT(ed_ckpt_print(c_, out, err));
}
static inline ed_tokenizer *at_read_tokenizer(const char *path, ed_error *err) {
    ed_ckpt *c = ed_ckpt_open(path, err);
    if (!c) return NULL;
    ed_tokenizer *t = ed_ckpt_read_tokenizer(c, err);
    ed_ckpt_close(c);
    return t;
}

#endif
