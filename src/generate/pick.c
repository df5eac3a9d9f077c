/* pick.c — picking the next token from a row of logits.
 *
 * Order (as in Hugging Face's generate): repetition penalty on the raw logits, then
 * greedy arg-max at temperature 0; otherwise the candidates sorted by logit (top-k by a
 * bounded min-heap, O(V log k), so the default k = 40 never sorts the whole vocabulary),
 * softmax at the temperature in double precision, top-p cut, one uniform draw. Ties are
 * broken by the lower id everywhere, so a given row of logits and rng state always give
 * the same token. <PAD> and <BOS> are never picked: no training target is ever one of
 * them, and an imported GPT-2 gives <BOS> the logit of <|endoftext|> (hf.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "expert/generate.h"
#include "expert/tokenizer.h"

typedef struct {
    float z;
    int id;
} cand;

/* a before b in the candidate order: higher logit first, then lower id. */
static int ahead(const cand *a, const cand *b) { return a->z > b->z || (a->z == b->z && a->id < b->id); }

static int cand_cmp(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    return ahead(a, b) ? -1 : ahead(b, a) ? 1 : 0;
}

void ed_pick_init(ed_pick *s, int V) {
    s->V = V;
    s->z = ed_alloc_floats((size_t)V);
    s->cand = ed_malloc((size_t)V * sizeof(cand));
    s->p = ed_malloc((size_t)V * sizeof(double));
    s->seen = ed_calloc((size_t)V, 1);
    ed_pick_set_roles(s, 0, 2, 3);
}

void ed_pick_set_roles(ed_pick *s, int32_t pad, int32_t bos, int32_t eos) {
    s->ban[0] = pad;
    s->ban[1] = bos == eos ? -1 : bos; /* GPT-2's <|endoftext|> both starts and ends: it must stay pickable */
    s->eos = eos;
}

void ed_pick_free(ed_pick *s) {
    free(s->z);
    free(s->cand);
    free(s->p);
    free(s->seen);
}

/* The root (c[0]) is the candidate LAST in order: the one a better newcomer replaces. */
static void heap_down(cand *c, int k, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < k && ahead(&c[w], &c[l])) w = l;
        if (r < k && ahead(&c[w], &c[r])) w = r;
        if (w == i) return;
        cand t = c[i];
        c[i] = c[w];
        c[w] = t;
        i = w;
    }
}

/* c[0..k) := the k first candidates of z in order, sorted. */
static void top_candidates(cand *c, const float *z, int V, int k) {
    if (k >= V) {
        for (int v = 0; v < V; v++) c[v] = (cand){z[v], v};
    } else {
        for (int v = 0; v < k; v++) c[v] = (cand){z[v], v};
        for (int i = k / 2 - 1; i >= 0; i--) heap_down(c, k, i);
        for (int v = k; v < V; v++) {
            cand x = {z[v], v};
            if (ahead(&x, &c[0])) {
                c[0] = x;
                heap_down(c, k, 0);
            }
        }
    }
    qsort(c, (size_t)k, sizeof *c, cand_cmp);
}

int32_t ed_pick_token(ed_pick *s, const ed_sampling *how, const float *logits, const int32_t *ids,
                  size_t n, ed_rng *rng) {
    const int V = s->V;
    float *z = s->z;
    memcpy(z, logits, (size_t)V * sizeof(float));
    for (int k = 0; k < 2; k++)
        if (s->ban[k] >= 0 && s->ban[k] < V) z[s->ban[k]] = -INFINITY;
    if (how->repetition_penalty != 1.0f && n > 0) {
        const float r = how->repetition_penalty;
        for (size_t i = 0; i < n; i++)
            if (ids[i] >= 0 && ids[i] < V && !s->seen[ids[i]]) {
                float *x = &s->z[ids[i]];
                *x = *x > 0.0f ? *x / r : *x * r;
                s->seen[ids[i]] = 1;
            }
        for (size_t i = 0; i < n; i++)
            if (ids[i] >= 0 && ids[i] < V) s->seen[ids[i]] = 0;
    }
    if (how->temperature <= 0.0f) {
        int best = 0;
        for (int v = 1; v < V; v++)
            if (z[v] > z[best]) best = v;
        return best;
    }
    cand *c = s->cand;
    int k = how->top_k > 0 && how->top_k < V ? how->top_k : V;
    top_candidates(c, z, V, k);
    double total = 0.0;
    for (int i = 0; i < k; i++) total += s->p[i] = exp(((double)c[i].z - c[0].z) / how->temperature);
    if (how->top_p < 1.0f) { /* the smallest prefix holding top_p of the mass (at least one) */
        double want = (double)how->top_p * total, acc = 0.0;
        int keep = 0;
        while (keep < k && acc < want) acc += s->p[keep++];
        if (keep < 1) keep = 1;
        k = keep;
        total = acc > 0.0 ? acc : s->p[0];
    }
    double u = ed_rng_uniform(rng) * total, acc = 0.0;
    for (int i = 0; i < k; i++) {
        acc += s->p[i];
        if (u < acc) return c[i].id;
    }
    return c[k - 1].id;
}
