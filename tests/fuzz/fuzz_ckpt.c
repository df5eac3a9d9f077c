/* fuzz_ckpt.c — the checkpoint readers on damaged files: the input is written to a file
 * and read as `inspect`, `generate` and a resume would (info, print, options, tokenizer,
 * then the model when its shape is small). Seeds are real small checkpoints; libFuzzer's
 * mutations flip, cut and splice them, so almost every input fails the checksum header
 * (docs/checkpoint-format.md) and this fuzzes the header check and the error paths.
 * Inputs without the header's first line are skipped: the readers hand such files to
 * HDF5 1.10 unverified, and HDF5 crashes on corrupted metadata (a known bug, one flipped
 * byte away: tests/fuzz/known-bugs/ckpt/, docs/reliability.md). ED_FUZZ_CKPT_ANY=1 feeds
 * them anyway, and ED_CKPT_NO_VERIFY=1 skips the checksum: for campaigns against HDF5.
 * Properties: no crash, no leak; every failure has a message naming the file. */
#include "expert/checkpoint.h"
#include "ckpt_at.h"
#include "expert/gpt.h"
#include "fuzz_util.h"

static const char MAGIC[] = "expert-dist checkpoint\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int any = -1;
    if (any < 0) any = getenv("ED_FUZZ_CKPT_ANY") != NULL;
    if (!any && (size < sizeof MAGIC - 1 || memcmp(data, MAGIC, sizeof MAGIC - 1) != 0)) return 0;
    const char *path = fuzz_write_tmp(".h5", data, size);
    ed_error err = {{0}};
    ed_ckpt_info info;
    if (at_read_info(path, &info, &err) != 0) {
        FUZZ_CHECK(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
        return 0;
    }
    FILE *devnull = fopen("/dev/null", "w");
    if (!devnull) abort();
    (void)at_print(path, devnull, &err);
    fclose(devnull);
    ed_options o;
    ed_options_defaults(&o);
    if (at_read_options(path, ED_CMD_INSPECT, &o, &err) != 0) return 0;
    ed_tokenizer *tok = at_read_tokenizer(path, &err);
    if (!tok) return 0;
    ed_tok_free(tok);
    /* Only small shapes: a fuzzed header may claim a model of any size. */
    const ed_model_config *c = &o.model;
    double n = (double)c->vocab_size * c->d_model + (double)c->max_seq_len * c->d_model +
               (double)c->n_layers * (4.0 * c->d_model * c->d_model + 2.0 * c->d_model * c->d_ff);
    if (n <= 0 || n > 2e6) return 0;
    char msg[256];
    ed_gpt *m = ed_gpt_create(c, 1, msg, sizeof msg);
    if (!m) return 0;
    if (at_read_model(path, m, &err) != 0)
        FUZZ_CHECK(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    ed_gpt_free(m);
    return 0;
}
