/* geneval.c — continue every prompt of a references file on the ranks, score the
 * continuations, and reduce the scores exactly (geneval.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expert/geneval.h"

void ed_geneval_result_free(ed_geneval_result *r) {
    if (r->items)
        for (int i = 0; i < r->n; i++) free(r->items[i].text);
    free(r->items);
    memset(r, 0, sizeof *r);
}

double ed_geneval_item_bleu(const ed_geneval_item *it) {
    ed_bleu_score s;
    ed_bleu_corpus(&it->bleu, &s);
    return s.bleu;
}

static int is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* The continuation: the decoded sequence past the decoded prompt, cut at the stop text,
 * white space trimmed. malloc'd. */
static char *continuation(const ed_tokenizer *tok, const ed_ivec *ids, size_t n_prompt, const char *stop) {
    char *head = ed_tok_decode(tok, ids->data, n_prompt, 1), *full = ed_tok_decode(tok, ids->data, ids->len, 1);
    size_t hl = strlen(head);
    char *text;
    if (strncmp(full, head, hl) == 0) {
        text = ed_strdup(full + hl);
    } else { /* a tokenizer whose decoding of the whole is not prefix-stable: the new ids alone */
        text = ed_tok_decode(tok, ids->data + n_prompt, ids->len - n_prompt, 1);
    }
    free(head);
    free(full);
    if (stop && stop[0]) {
        char *hit = strstr(text, stop);
        if (hit) *hit = 0;
    }
    size_t a = 0, b = strlen(text);
    while (a < b && is_space(text[a])) a++;
    while (b > a && is_space(text[b - 1])) b--;
    memmove(text, text + a, b - a);
    text[b - a] = 0;
    return text;
}

static void score(const ed_ref_example *ex, const char *text, ed_stemmer *stem, ed_geneval_item *it) {
    ed_tm_tokens hyp = {0}, *refs = ed_calloc((size_t)ex->n_refs, sizeof *refs);
    ed_tm_tokenize_13a(text, &hyp);
    for (int r = 0; r < ex->n_refs; r++) ed_tm_tokenize_13a(ex->refs[r], &refs[r]);
    ed_bleu_sentence(&hyp, refs, ex->n_refs, &it->bleu);
    ed_tm_tokens_clear(&hyp);
    ed_tm_tokenize_rouge(text, stem, &hyp);
    for (int r = 0; r < ex->n_refs; r++) {
        ed_tm_tokens_clear(&refs[r]);
        ed_tm_tokenize_rouge(ex->refs[r], stem, &refs[r]);
    }
    ed_rouge_multi(&hyp, refs, ex->n_refs, &it->rouge);
    ed_tm_tokens_free(&hyp);
    for (int r = 0; r < ex->n_refs; r++) ed_tm_tokens_free(&refs[r]);
    free(refs);
}

/* One example on the wire: this header, then text_len bytes of text. */
typedef struct {
    int32_t index, new_tokens;
    uint32_t text_len, pad;
    ed_bleu_stats bleu;
    ed_rouge rouge;
} wire_head;

typedef struct {
    char *p;
    size_t n, cap;
} bytes;

static void bytes_put(bytes *b, const void *s, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = ed_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

void ed_geneval_run(ed_gpt *m, const ed_tokenizer *tok, const ed_refs *refs, const ed_geneval_options *o,
                    const ed_dist *d, int keep_items, ed_geneval_result *out) {
    memset(out, 0, sizeof *out);
    out->n = refs->n;
    ed_decoder dec;
    ed_decoder_init(&dec, m, o->window, o->kv_cache);
    ed_pick pick;
    ed_pick_init(&pick, ed_gpt_config(m)->vocab_size);
    ed_stemmer *stem = o->rouge_stem ? ed_stemmer_new() : NULL;
    ed_ivec ids = {0};
    bytes mine = {0};
    /* rounds of one example per rank: every rank polls equally often (the last round
     * may leave some rank without an example) */
    const char *delay_env = getenv("ED_GENEVAL_DEBUG_DELAY");
    double delay = delay_env ? atof(delay_env) : 0.0;
    for (int first = 0; first < refs->n; first += d->world) {
        if (delay > 0) {
            if (d->rank == 0) fprintf(stderr, "expert-dist: debug: generating from example %d\n", first + 1);
            struct timespec ts = {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)};
            nanosleep(&ts, NULL); /* a signal ends it early */
        }
        if (o->poll_stop && (out->stopped = o->poll_stop(d)) != 0) break;
        int i = first + d->rank;
        if (i >= refs->n) continue;
        const ed_ref_example *ex = &refs->ex[i];
        ids.len = 0;
        ed_ivec_push(&ids, ED_BOS);
        ed_tok_encode(tok, ex->prompt, strlen(ex->prompt), 0, &ids);
        size_t n_prompt = ids.len;
        ed_rng rng; /* the example's own stream: its text is the same on any number of ranks */
        ed_rng_seed(&rng, o->seed, 0x67657661ULL + (uint64_t)i);
        ed_geneval_item it = {0};
        it.new_tokens = ed_generate_tokens(&dec, &pick, &o->how, &rng, &ids, o->max_new_tokens, NULL, NULL);
        it.text = continuation(tok, &ids, n_prompt, o->stop);
        score(ex, it.text, stem, &it);
        wire_head h;
        memset(&h, 0, sizeof h);
        h.index = i;
        h.new_tokens = it.new_tokens;
        h.text_len = (uint32_t)strlen(it.text);
        h.bleu = it.bleu;
        h.rouge = it.rouge;
        bytes_put(&mine, &h, sizeof h);
        bytes_put(&mine, it.text, h.text_len);
        free(it.text);
    }
    ed_ivec_free(&ids);
    ed_stemmer_free(stem);
    ed_pick_free(&pick);
    ed_decoder_free(&dec);
    if (out->stopped) {
        free(mine.p);
        return;
    }

    size_t total = 0;
    char *all = ed_dist_gather_bytes(d, mine.p, mine.n, &total);
    free(mine.p);
    /* [0] BLEU statistics (integers, as doubles: exact below 2^53), then ROUGE F1 sums,
     * new tokens: rank 0 computes, every rank receives the same bytes */
    double sums[2 * ED_BLEU_N + 2 + 3 + 1] = {0};
    if (d->rank == 0) {
        ed_geneval_item *items = ed_calloc((size_t)refs->n, sizeof *items);
        for (size_t at = 0; at < total;) {
            wire_head h;
            memcpy(&h, all + at, sizeof h);
            at += sizeof h;
            ED_CHECK(h.index >= 0 && h.index < refs->n && !items[h.index].text, "geneval: bad gathered record");
            ed_geneval_item *it = &items[h.index];
            it->text = ed_malloc(h.text_len + 1);
            memcpy(it->text, all + at, h.text_len);
            it->text[h.text_len] = 0;
            at += h.text_len;
            it->new_tokens = h.new_tokens;
            it->bleu = h.bleu;
            it->rouge = h.rouge;
        }
        /* in input order: the same additions whatever rank produced which example */
        ed_bleu_stats sum;
        memset(&sum, 0, sizeof sum);
        double r1 = 0, r2 = 0, rl = 0;
        long toks = 0;
        for (int i = 0; i < refs->n; i++) {
            ED_CHECK(items[i].text, "geneval: example %d was not generated", i);
            ed_bleu_add(&sum, &items[i].bleu);
            r1 += items[i].rouge.r1.f;
            r2 += items[i].rouge.r2.f;
            rl += items[i].rouge.rl.f;
            toks += items[i].new_tokens;
        }
        for (int k = 0; k < ED_BLEU_N; k++) {
            sums[k] = (double)sum.match[k];
            sums[ED_BLEU_N + k] = (double)sum.total[k];
        }
        sums[2 * ED_BLEU_N] = (double)sum.hyp_len;
        sums[2 * ED_BLEU_N + 1] = (double)sum.ref_len;
        sums[2 * ED_BLEU_N + 2] = r1 / refs->n;
        sums[2 * ED_BLEU_N + 3] = r2 / refs->n;
        sums[2 * ED_BLEU_N + 4] = rl / refs->n;
        sums[2 * ED_BLEU_N + 5] = (double)toks;
        if (keep_items) {
            out->items = items;
        } else {
            for (int i = 0; i < refs->n; i++) free(items[i].text);
            free(items);
        }
    }
    free(all);
    ed_dist_bcast(d, sums, (int)sizeof sums, 0);
    ed_bleu_stats sum;
    for (int k = 0; k < ED_BLEU_N; k++) {
        sum.match[k] = (int64_t)sums[k];
        sum.total[k] = (int64_t)sums[ED_BLEU_N + k];
    }
    sum.hyp_len = (int64_t)sums[2 * ED_BLEU_N];
    sum.ref_len = (int64_t)sums[2 * ED_BLEU_N + 1];
    ed_bleu_corpus(&sum, &out->bleu);
    out->rouge1 = sums[2 * ED_BLEU_N + 2];
    out->rouge2 = sums[2 * ED_BLEU_N + 3];
    out->rougeL = sums[2 * ED_BLEU_N + 4];
    out->new_tokens = (long)sums[2 * ED_BLEU_N + 5];
}
