/* geneval_report.c — between the options and geneval: the generation settings a command
 * line asks for, and the two lines that report the scores (eval --generate, train). */
#include <stdio.h>

#include "expert/geneval.h"

void ed_geneval_options_from(const ed_options *o, int window, ed_geneval_options *g) {
    *g = (ed_geneval_options){
        .how = {.temperature = o->decode == ED_DECODE_SAMPLE ? o->temperature : 0.0f,
                .top_k = o->top_k, .top_p = o->top_p, .repetition_penalty = o->repetition_penalty},
        .seed = o->seed, .max_new_tokens = o->max_new_tokens, .stop = o->stop,
        .rouge_stem = o->rouge_stem, .window = window, .kv_cache = o->kv_cache};
}

void ed_geneval_print(FILE *f, const ed_geneval_result *r, const ed_options *o) {
    const ed_bleu_score *b = &r->bleu;
    fprintf(f, "  BLEU %.2f  (13a tokens, exp smoothing; precisions %.1f/%.1f/%.1f/%.1f, brevity penalty %.3f, "
               "length %lld/%lld)\n",
            100 * b->bleu, 100 * b->precision[0], 100 * b->precision[1], 100 * b->precision[2], 100 * b->precision[3],
            b->bp, (long long)b->hyp_len, (long long)b->ref_len);
    fprintf(f, "  ROUGE-1 %.2f  ROUGE-2 %.2f  ROUGE-L %.2f  (F1, mean over examples; %s)\n", 100 * r->rouge1,
            100 * r->rouge2, 100 * r->rougeL, o->rouge_stem ? "Porter stemming" : "no stemming");
}

