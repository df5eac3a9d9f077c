/* parity_dump.c — runs the C engine on a small padded batch and writes everything the
 * PyTorch side (tests/reference/parity.py) needs to redo the same computation:
 *   config.json                 shapes, hyper-parameters, losses, counts, grad norms
 *   params0.f32                 the initial parameters (flat, state_dict order)
 *   inputs.i32 targets.i32      the batch [B][T], right-padded, pads have target -100
 *   logits0.f32 grads0.f32      forward/backward of the loss SUM, no smoothing
 *   grads_ls.f32                the same with label smoothing 0.1
 *   params_adamw.f32            after 3 AdamW steps (mean loss, clip_grad_norm_)
 *   params_sgd.f32              after 3 SGD-momentum steps from params0 (mean loss, clip)
 * In fp16 the backward runs as the trainer's does (src/trainer/train_step.c): on
 * scale / N times the loss sum (N = B x T, the batch's most targets), the gradient
 * multiplied back by N / scale (grads0, grads_ls: still the gradient of the loss sum), and
 *   params_fp16.f32             after FP16_STEPS AdamW steps with the dynamic loss scaler
 *                               (ed_loss_scaler from FP16_SCALE0, growth interval
 *                               FP16_GROWTH): overflow steps skipped; config.json's "fp16"
 *                               holds each step's scale, skip flag and norm
 * Usage: parity_dump <outdir> [openblas|onednn] [fp32|bf16|fp16] [gpt2|llama|llama-tied]
 * (GEMM backend, precision, model: llama = grouped-query (H 4, G 2) with an untied head,
 * llama-tied = multi-query (G 1) with the head tied to the embedding; both with a
 * non-default rope_theta and rms_eps, so the config's values are the ones used). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expert/common.h"
#include "expert/gpt.h"
#include "expert/optim.h"

static void write_raw(const char *dir, const char *name, const void *data, size_t bytes) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, bytes, f) != bytes || fclose(f) != 0) ED_DIE("%s: cannot write", path);
}

enum { B = 3, T = 70, STEPS = 3 };
/* The fp16 scaler run: starts high enough that its first steps overflow, and grows every
 * 2 clean steps, so both of GradScaler's moves happen in a few steps (parity.py checks
 * the sequence step by step). */
enum { FP16_STEPS = 10, FP16_GROWTH = 2 };
#define FP16_SCALE0 16777216.0 /* 2^24 */
#define FP16_LOSS_SCALE 65536.0 /* the scale of grads0 / grads_ls: --loss-scale-init's default */

/* Runs STEPS optimizer steps on the mean loss with clipping; records the pre-clip norms. */
static void train_steps(ed_gpt *m, ed_optim *o, const int32_t *inp, const int32_t *tgt, float lr,
                        float max_norm, double *norms) {
    size_t n = ed_gpt_num_params(m);
    for (int s = 0; s < STEPS; s++) {
        double loss;
        long cnt;
        ed_gpt_zero_grad(m);
        ed_gpt_forward(m, inp, tgt, B, T, 0.0f, 0, NULL, &loss, &cnt);
        ed_gpt_backward(m, 1.0f / (float)cnt, NULL, NULL);
        norms[s] = sqrt(ed_sumsq(ed_gpt_grads(m), n));
        float f = ed_clip_factor(norms[s], max_norm);
        if (f < 1.0f) ed_scale(ed_gpt_grads(m), n, f);
        ed_optim_step(o, ed_gpt_params(m), ed_gpt_grads(m), ed_gpt_tensors(m), ed_gpt_num_tensors(m), lr);
    }
}

/* fp16: the trainer's backward of the loss sum at loss scale `scale`, unscaled again
 * (grads = the gradient of the loss sum, as fp16 operands with that scale give it). */
static void backward_scaled(ed_gpt *m, double scale) {
    ed_gpt_backward(m, (float)(scale / (double)(B * T)), NULL, NULL);
    ed_scale(ed_gpt_grads(m), ed_gpt_num_params(m), (float)((double)(B * T) / scale));
}

/* fp16: FP16_STEPS AdamW steps on the mean loss with the dynamic loss scaler, as
 * train_step.c takes them: backward at scale / N, gradients times N / (scale x count),
 * an Inf/NaN norm skips the step, clipping otherwise, then the scaler's verdict. */
static void train_steps_fp16(ed_gpt *m, ed_optim *o, const int32_t *inp, const int32_t *tgt, float lr,
                             float max_norm, double *scales, int *skipped, double *norms) {
    size_t n = ed_gpt_num_params(m);
    ed_loss_scaler sc = {0};
    ed_loss_scaler_init(&sc, FP16_SCALE0);
    const double N = (double)(B * T);
    for (int s = 0; s < FP16_STEPS; s++) {
        double loss;
        long cnt;
        ed_gpt_zero_grad(m);
        ed_gpt_forward(m, inp, tgt, B, T, 0.0f, 0, NULL, &loss, &cnt);
        ed_gpt_backward(m, (float)(sc.scale / N), NULL, NULL);
        ed_scale(ed_gpt_grads(m), n, (float)(N / sc.scale / (double)cnt));
        norms[s] = sqrt(ed_sumsq(ed_gpt_grads(m), n));
        scales[s] = sc.scale;
        skipped[s] = !isfinite(norms[s]);
        if (!skipped[s]) {
            float f = ed_clip_factor(norms[s], max_norm);
            if (f < 1.0f) ed_scale(ed_gpt_grads(m), n, f);
            ed_optim_step(o, ed_gpt_params(m), ed_gpt_grads(m), ed_gpt_tensors(m), ed_gpt_num_tensors(m), lr);
        }
        ed_loss_scaler_update(&sc, skipped[s], FP16_GROWTH);
    }
}

int main(int argc, char **argv) {
    int backend_i = argc > 2 ? ed_name_index(ed_gemm_backend_names, argv[2]) : ED_GEMM_OPENBLAS;
    int prec_i = argc > 3 ? ed_name_index(ed_precision_names, argv[3]) : ED_PREC_FP32;
    const char *arch = argc > 4 ? argv[4] : "gpt2";
    int llama = strncmp(arch, "llama", 5) == 0, tied = strcmp(arch, "llama-tied") == 0;
    if (argc < 2 || argc > 5 || backend_i <= ED_GEMM_AUTO || prec_i < 0 ||
        !(strcmp(arch, "gpt2") == 0 || strcmp(arch, "llama") == 0 || tied)) {
        fprintf(stderr, "usage: parity_dump <outdir> [openblas|onednn] [fp32|bf16|fp16] [gpt2|llama|llama-tied]\n");
        return 2;
    }
    ed_gemm_backend backend = (ed_gemm_backend)backend_i;
    ed_precision prec = (ed_precision)prec_i;
    const char *dir = argv[1];
    /* T > 64 so attention runs several causal row blocks; Tmax > T leaves unused wpe rows. */
    ed_model_config cfg = {.vocab_size = 37, .d_model = 16, .n_layers = 2, .n_heads = 2,
                           .d_ff = 24, .max_seq_len = 80, .dropout = 0.0f};
    if (llama) /* head size 8: RoPE has 4 frequencies */
        cfg = (ed_model_config){.vocab_size = 37, .d_model = 32, .n_layers = 2, .n_heads = 4, .d_ff = 40,
                                .max_seq_len = 80, .arch = ED_ARCH_LLAMA, .n_kv_heads = tied ? 1 : 2,
                                .tie_embeddings = tied, .rope_theta = 500.0f, .rms_eps = 1e-5f};
    char msg[256];
    ed_gpt *m = ed_gpt_create(&cfg, 7, msg, sizeof msg);
    if (!m) ED_DIE("config: %s", msg);
    if (ed_gpt_set_compute(m, backend, prec, msg, sizeof msg) != 0) ED_DIE("%s", msg);
    ed_gpt_compute_describe(m, msg, sizeof msg);
    printf("parity_dump: gemm %s\n", msg);
    size_t n = ed_gpt_num_params(m), NV = (size_t)B * T * cfg.vocab_size;

    /* Batch: row lengths 70, 51, 9; pads are id 0 with target -100; a few ignored
     * targets inside row 0 too. Deterministic pseudo-random tokens. */
    int32_t inp[B * T], tgt[B * T];
    const int len[B] = {70, 51, 9};
    ed_rng r;
    ed_rng_seed(&r, 11, 0);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int i = b * T + t;
            inp[i] = t < len[b] ? (int32_t)ed_rng_below(&r, (uint64_t)cfg.vocab_size) : 0;
            tgt[i] = t < len[b] ? (int32_t)ed_rng_below(&r, (uint64_t)cfg.vocab_size) : ED_IGNORE_INDEX;
        }
    tgt[5] = tgt[17] = ED_IGNORE_INDEX;

    float *params0 = malloc(n * sizeof(float));
    memcpy(params0, ed_gpt_params(m), n * sizeof(float));
    write_raw(dir, "params0.f32", params0, n * sizeof(float));
    write_raw(dir, "inputs.i32", inp, sizeof inp);
    write_raw(dir, "targets.i32", tgt, sizeof tgt);

    double loss0, loss_ls;
    long cnt0, cnt_ls;
    ed_gpt_forward(m, inp, tgt, B, T, 0.0f, 0, NULL, &loss0, &cnt0);
    write_raw(dir, "logits0.f32", ed_gpt_logits(m), NV * sizeof(float));
    int fp16 = prec == ED_PREC_FP16;
    ed_gpt_zero_grad(m);
    if (fp16) backward_scaled(m, FP16_LOSS_SCALE);
    else ed_gpt_backward(m, 1.0f, NULL, NULL);
    write_raw(dir, "grads0.f32", ed_gpt_grads(m), n * sizeof(float));

    ed_gpt_forward(m, inp, tgt, B, T, 0.1f, 0, NULL, &loss_ls, &cnt_ls);
    ed_gpt_zero_grad(m);
    if (fp16) backward_scaled(m, FP16_LOSS_SCALE);
    else ed_gpt_backward(m, 1.0f, NULL, NULL);
    write_raw(dir, "grads_ls.f32", ed_gpt_grads(m), n * sizeof(float));

    /* AdamW, then SGD from the same start. lr large enough that 3 steps move every weight;
     * Adam eps 1e-6 (not 1e-8) because the key-bias gradient is exactly zero in exact
     * arithmetic (softmax is shift invariant) and eps 1e-8 would let each side turn its
     * own rounding noise there into full-size steps. */
    const float lr = 1e-2f, wd = 0.1f, max_norm = 0.5f, sgd_lr = 0.5f, momentum = 0.9f, sgd_wd = 0.01f;
    double norms_adamw[STEPS], norms_sgd[STEPS];
    ed_optim o;
    ed_optim_init(&o, ED_OPT_ADAMW, 0, n, 0.9f, 0.95f, 1e-6f, wd, 0.0f);
    train_steps(m, &o, inp, tgt, lr, max_norm, norms_adamw);
    write_raw(dir, "params_adamw.f32", ed_gpt_params(m), n * sizeof(float));
    ed_optim_free(&o);

    double fp16_scales[FP16_STEPS], fp16_norms[FP16_STEPS];
    int fp16_skipped[FP16_STEPS];
    if (fp16) {
        memcpy(ed_gpt_params(m), params0, n * sizeof(float));
        ed_optim_init(&o, ED_OPT_ADAMW, 0, n, 0.9f, 0.95f, 1e-6f, wd, 0.0f);
        train_steps_fp16(m, &o, inp, tgt, lr, max_norm, fp16_scales, fp16_skipped, fp16_norms);
        write_raw(dir, "params_fp16.f32", ed_gpt_params(m), n * sizeof(float));
        ed_optim_free(&o);
    }

    memcpy(ed_gpt_params(m), params0, n * sizeof(float));
    ed_optim_init(&o, ED_OPT_SGD, 0, n, 0.0f, 0.0f, 0.0f, sgd_wd, momentum);
    train_steps(m, &o, inp, tgt, sgd_lr, max_norm, norms_sgd);
    write_raw(dir, "params_sgd.f32", ed_gpt_params(m), n * sizeof(float));
    ed_optim_free(&o);

    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) ED_DIE("%s: cannot write", path);
    fprintf(f,
            "{\"arch\": \"%s\", \"G\": %d, \"tied\": %d, \"theta\": %.9g, \"rms_eps\": %.9g,\n"
            " \"V\": %d, \"D\": %d, \"L\": %d, \"H\": %d, \"FF\": %d, \"Tmax\": %d, \"B\": %d, \"T\": %d,\n"
            " \"num_params\": %zu, \"loss0\": %.17g, \"count0\": %ld, \"loss_ls\": %.17g, \"count_ls\": %ld,\n"
            " \"label_smoothing\": 0.1, \"lr\": %.9g, \"wd\": %.9g, \"beta1\": 0.9, \"beta2\": 0.95, \"eps\": 1e-6,\n"
            " \"max_norm\": %.9g, \"sgd_lr\": %.9g, \"momentum\": %.9g, \"sgd_wd\": %.9g, \"steps\": %d,\n"
            " \"norms_adamw\": [%.17g, %.17g, %.17g], \"norms_sgd\": [%.17g, %.17g, %.17g]",
            llama ? "llama" : "gpt2", ed_model_kv_heads(&cfg), ed_model_tied(&cfg), (double)cfg.rope_theta,
            (double)cfg.rms_eps, cfg.vocab_size, cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.d_ff, cfg.max_seq_len, B, T, n,
            loss0, cnt0, loss_ls, cnt_ls, lr, wd, max_norm, sgd_lr, momentum, sgd_wd, STEPS,
            norms_adamw[0], norms_adamw[1], norms_adamw[2], norms_sgd[0], norms_sgd[1], norms_sgd[2]);
    if (fp16) { /* non-finite norms as null (JSON has no Inf) */
        fprintf(f, ",\n \"fp16\": {\"loss_scale\": %.17g, \"nominal_tokens\": %d, \"scale0\": %.17g, \"growth\": %d,",
                FP16_LOSS_SCALE, B * T, FP16_SCALE0, FP16_GROWTH);
        const char *sep = "\n  \"scales\": [";
        for (int s = 0; s < FP16_STEPS; s++, sep = ", ") fprintf(f, "%s%.17g", sep, fp16_scales[s]);
        sep = "],\n  \"skipped\": [";
        for (int s = 0; s < FP16_STEPS; s++, sep = ", ") fprintf(f, "%s%d", sep, fp16_skipped[s]);
        sep = "],\n  \"norms\": [";
        for (int s = 0; s < FP16_STEPS; s++, sep = ", ")
            isfinite(fp16_norms[s]) ? fprintf(f, "%s%.17g", sep, fp16_norms[s]) : fprintf(f, "%snull", sep);
        fprintf(f, "]}");
    }
    fprintf(f, "}\n");
    if (fclose(f) != 0) ED_DIE("%s: cannot write", path);
    free(params0);
    ed_gpt_free(m);
    return 0;
}
