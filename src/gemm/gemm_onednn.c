/* gemm_onednn.c — the oneDNN backend of ed_gemm: matmul primitives, created once per
 * shape and reused.
 *
 * Cache: a primitive is specific to (data type, transposes, M, N, K, leading dimensions,
 * alpha, beta). The first call with a key creates it (oneDNN JIT-compiles a kernel:
 * milliseconds); every later call finds it in an open-addressing table, so after the
 * first step of a run no primitive is created. The table is shared by the threads of a
 * region under one critical section (a lookup is a few hashes; creation happens once).
 *
 * Open dimensions: where the caller says a dimension varies from call to call
 * (ed_onednn_set_shapes: packed rows of a new width every micro-batch, a decoder whose
 * key count grows by one a token), a primitive per value would be created without end:
 * measured, 400 primitives in 400 steps of the tiny preset (~45 kB of JIT code and 8 kB
 * of memory objects each, RssAnon +22 MB, and 0.2-6 ms of JIT a new shape), 2 a generated
 * token. Such a key is stored with that dimension (and, decoding, the leading dimensions)
 * OPEN, and its primitive is made with DNNL_RUNTIME_DIM_VAL there: one primitive for every
 * value, executed on memory objects made for the call's real shape. oneDNN 2.6 serves
 * runtime dimensions with its gemm-based matmul ("gemm:jit") instead of the brgemm kernels
 * it JITs per shape; at the model's shapes the two ran within noise of each other
 * (docs/memory.md). Which dimensions are open is a function of the policy and the call,
 * never of which shapes came before, so a run computes the same bits whatever it ran
 * earlier (a resumed run included).
 *
 * Execution: transposes and leading dimensions are expressed as strides of the memory
 * descriptors, so operands are used in place. alpha is an output scale, beta a `sum`
 * post-op. Each OpenMP thread (slot) has its own stream, its own memory objects per
 * primitive (re-pointed at the operands with set_data_handle) and its own scratchpad
 * (scratchpad mode `user`), so threads of a region can run primitives concurrently. From
 * outside a region a primitive threads itself on the OpenMP pool (this oneDNN uses the
 * OpenMP runtime, the same libgomp pool as the engine); inside a region it runs on the
 * calling thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expert/common.h"
#include "gemm.h"

#ifdef ED_HAVE_ONEDNN

#include <dnnl.h>

#define SLOTS 256
enum { MEM_A, MEM_B, MEM_C, MEM_PAD, MEM_N };

/* OPEN in a dimension or leading dimension of a key: given at execution, not creation. */
#define OPEN (-1)

typedef struct {
    int in, ta, tb, M, N, K, lda, ldb, ldc; /* in: the operands' ed_precision */
    float alpha, beta;
} key;

typedef struct {
    key k;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t md[MEM_N];
    size_t pad_bytes;
    dnnl_memory_t (*mem)[MEM_N]; /* [SLOTS], created by each slot on its first use */
} entry;

struct ed_onednn {
    dnnl_engine_t engine;
    dnnl_stream_t stream[SLOTS];
    void *pad[SLOTS];
    size_t pad_cap[SLOTS];
    entry **table;
    size_t cap, used;
    long created;
    char impl[64]; /* implementation of the last primitive created */
    int native[3]; /* by ed_precision: a non-reference matmul for that operand type */
    ed_gemm_shapes shapes; /* which dimensions are open (ed_onednn_set_shapes) */
};

#define DNNL_OK(call, ...)                                                                  \
    do {                                                                                    \
        dnnl_status_t st_ = (call);                                                         \
        if (st_ != dnnl_success) ED_DIE("oneDNN: %s failed (status %d)", #call, (int)st_);  \
    } while (0)

static size_t key_hash(const key *k) {
    const unsigned char *p = (const unsigned char *)k;
    size_t h = 1469598103934665603ull;
    for (size_t i = 0; i < sizeof *k; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static int key_eq(const key *a, const key *b) {
    return a->in == b->in && a->ta == b->ta && a->tb == b->tb && a->M == b->M && a->N == b->N &&
           a->K == b->K && a->lda == b->lda && a->ldb == b->ldb && a->ldc == b->ldc &&
           a->alpha == b->alpha && a->beta == b->beta;
}

/* A dimension of a key as oneDNN takes it. */
static dnnl_dim_t dim(int v) { return v == OPEN ? DNNL_RUNTIME_DIM_VAL : (dnnl_dim_t)v; }

/* The memory descriptors of A, B and C for k (open dimensions at run time). */
static void make_mds(const key *k, dnnl_memory_desc_t md[MEM_N]) {
    dnnl_data_type_t in = k->in == ED_PREC_BF16 ? dnnl_bf16 : k->in == ED_PREC_FP16 ? dnnl_f16 : dnnl_f32;
    dnnl_dims_t da = {dim(k->M), dim(k->K)}, db = {dim(k->K), dim(k->N)}, dc = {dim(k->M), dim(k->N)};
    /* logical A is M x K: row stride lda (or 1 when stored transposed), etc. */
    dnnl_dims_t sa = {k->ta ? 1 : dim(k->lda), k->ta ? dim(k->lda) : 1};
    dnnl_dims_t sb = {k->tb ? 1 : dim(k->ldb), k->tb ? dim(k->ldb) : 1};
    dnnl_dims_t sc = {dim(k->ldc), 1};
    DNNL_OK(dnnl_memory_desc_init_by_strides(&md[MEM_A], 2, da, in, sa));
    DNNL_OK(dnnl_memory_desc_init_by_strides(&md[MEM_B], 2, db, in, sb));
    DNNL_OK(dnnl_memory_desc_init_by_strides(&md[MEM_C], 2, dc, dnnl_f32, sc));
}

/* Creates the primitive descriptor for k; returns dnnl_success or oneDNN's status. */
static dnnl_status_t make_pd(ed_onednn *d, const key *k, dnnl_primitive_desc_t *pd, dnnl_memory_desc_t md[MEM_N]) {
    make_mds(k, md);
    dnnl_matmul_desc_t desc;
    DNNL_OK(dnnl_matmul_desc_init(&desc, &md[MEM_A], &md[MEM_B], NULL, &md[MEM_C]));
    dnnl_primitive_attr_t attr;
    DNNL_OK(dnnl_primitive_attr_create(&attr));
    DNNL_OK(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    if (k->alpha != 1.0f) DNNL_OK(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &k->alpha));
    dnnl_post_ops_t po = NULL;
    if (k->beta != 0.0f) {
        DNNL_OK(dnnl_post_ops_create(&po));
        DNNL_OK(dnnl_post_ops_append_sum(po, k->beta));
        DNNL_OK(dnnl_primitive_attr_set_post_ops(attr, po));
    }
    dnnl_status_t st = dnnl_primitive_desc_create(pd, &desc, attr, d->engine, NULL);
    if (po) dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    return st;
}

static const char *pd_impl(const_dnnl_primitive_desc_t pd) {
    const char *impl = "?";
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success) impl = "?";
    return impl;
}

const char *ed_onednn_isa_name(void) {
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "all";
    }
}

ed_onednn *ed_onednn_create(char *msg, size_t msg_len) {
    ed_onednn *d = ed_calloc(1, sizeof *d);
    if (dnnl_engine_create(&d->engine, dnnl_cpu, 0) != dnnl_success) {
        if (msg && msg_len) snprintf(msg, msg_len, "oneDNN: no CPU engine");
        free(d);
        return NULL;
    }
    d->cap = 256;
    d->table = ed_calloc(d->cap, sizeof *d->table);
    /* Ask oneDNN rather than guess from CPUID: a half matmul it implements with half
     * instructions (bf16: AVX512-BF16 or AMX kernels; fp16: AVX512-FP16 or AMX-FP16) has a
     * non-reference implementation. Where it has none at all (oneDNN 2.6 has no fp16
     * matmul on CPUs without AVX512-FP16), creating the descriptor fails: not native. */
    for (int p = ED_PREC_BF16; p <= ED_PREC_FP16; p++) {
        key k = {.in = p, .M = 64, .N = 64, .K = 64, .lda = 64, .ldb = 64, .ldc = 64, .alpha = 1.0f};
        dnnl_primitive_desc_t pd;
        dnnl_memory_desc_t md[MEM_N];
        if (make_pd(d, &k, &pd, md) == dnnl_success) {
            d->native[p] = strncmp(pd_impl(pd), "ref", 3) != 0;
            dnnl_primitive_desc_destroy(pd);
        }
    }
    return d;
}

void ed_onednn_free(ed_onednn *d) {
    if (!d) return;
    for (size_t i = 0; i < d->cap; i++) {
        entry *e = d->table[i];
        if (!e) continue;
        if (e->mem)
            for (int s = 0; s < SLOTS; s++)
                for (int j = 0; j < MEM_N; j++)
                    if (e->mem[s][j]) dnnl_memory_destroy(e->mem[s][j]);
        free(e->mem);
        dnnl_primitive_destroy(e->prim);
        free(e);
    }
    free(d->table);
    for (int s = 0; s < SLOTS; s++) {
        if (d->stream[s]) dnnl_stream_destroy(d->stream[s]);
        free(d->pad[s]);
    }
    dnnl_engine_destroy(d->engine);
    free(d);
}

ed_gemm_shapes ed_onednn_set_shapes(ed_onednn *d, ed_gemm_shapes s) {
    ed_gemm_shapes old = d->shapes;
    d->shapes = s;
    return old;
}

/* The cache key of a call: its shape, with the dimensions the policy leaves open set to
 * OPEN. TOKENS opens the token count only (the leading dimensions of the model's
 * products are feature widths: fixed); ANY opens every dimension and leading dimension
 * (a decoder's score rows are `keys` floats apart). */
static key key_of(ed_gemm_shapes shapes, key k) {
    if (shapes == ED_GEMM_SHAPES_TOKENS) {
        if (k.ta) k.K = OPEN; /* the weight-gradient product: tokens are the reduction */
        else k.M = OPEN;      /* forward and input-gradient products: tokens are the rows */
    } else if (shapes == ED_GEMM_SHAPES_ANY) {
        k.M = k.N = k.K = k.lda = k.ldb = k.ldc = OPEN;
    }
    return k;
}

static int key_open(const key *k) {
    return k->M == OPEN || k->N == OPEN || k->K == OPEN || k->lda == OPEN || k->ldb == OPEN || k->ldc == OPEN;
}

int ed_onednn_native(ed_onednn *d, ed_precision p) { return p == ED_PREC_BF16 || p == ED_PREC_FP16 ? d->native[p] : 0; }
long ed_onednn_primitives(const ed_onednn *d) { return d->created; }
const char *ed_onednn_impl(const ed_onednn *d) { return d->impl; }

static void table_put(entry **t, size_t cap, entry *e) {
    size_t i = key_hash(&e->k) & (cap - 1);
    while (t[i]) i = (i + 1) & (cap - 1);
    t[i] = e;
}

/* The cached primitive for k, created on first use; NULL when oneDNN cannot make one
 * and `may_fail` (else fatal). Caller holds the cache lock. */
static entry *lookup(ed_onednn *d, const key *k, int may_fail) {
    size_t i = key_hash(k) & (d->cap - 1);
    for (; d->table[i]; i = (i + 1) & (d->cap - 1))
        if (key_eq(&d->table[i]->k, k)) return d->table[i];
    dnnl_primitive_desc_t pd;
    dnnl_memory_desc_t md[MEM_N];
    dnnl_status_t st = make_pd(d, k, &pd, md);
    if (st != dnnl_success && may_fail) return NULL;
    if (st != dnnl_success)
        ED_DIE("oneDNN has no %s matmul for M %d N %d K %d (transA %d transB %d, status %d)",
               ed_precision_names[k->in], k->M, k->N, k->K, k->ta, k->tb, (int)st);
    entry *e = ed_calloc(1, sizeof *e);
    e->k = *k;
    memcpy(e->md, md, sizeof md);
    const dnnl_memory_desc_t *pad = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    e->md[MEM_PAD] = *pad;
    e->pad_bytes = dnnl_memory_desc_get_size(pad);
    snprintf(d->impl, sizeof d->impl, "%s", pd_impl(pd));
    DNNL_OK(dnnl_primitive_create(&e->prim, pd));
    dnnl_primitive_desc_destroy(pd);
    e->mem = ed_calloc(SLOTS, sizeof *e->mem);
    d->created++;
    if (2 * (d->used + 1) > d->cap) { /* keep the load under 1/2 */
        size_t ncap = 2 * d->cap;
        entry **nt = ed_calloc(ncap, sizeof *nt);
        for (size_t j = 0; j < d->cap; j++)
            if (d->table[j]) table_put(nt, ncap, d->table[j]);
        free(d->table);
        d->table = nt;
        d->cap = ncap;
    }
    table_put(d->table, d->cap, e);
    d->used++;
    return e;
}

/* The slot's memory object j of e, pointed at p. */
static dnnl_memory_t mem_at(ed_onednn *d, entry *e, int slot, int j, void *p) {
    dnnl_memory_t *m = &e->mem[slot][j];
    if (!*m) DNNL_OK(dnnl_memory_create(m, &e->md[j], d->engine, p));
    else DNNL_OK(dnnl_memory_set_data_handle(*m, p));
    return *m;
}

void ed_onednn_gemm(ed_onednn *d, ed_precision in, int thread, int transA, int transB, int M, int N, int K,
                    float alpha, const void *A, int lda, const void *B, int ldb, float beta, float *C, int ldc) {
    ED_CHECK(thread >= 0 && thread < SLOTS, "oneDNN GEMM from thread %d; at most %d supported", thread, SLOTS);
    if (K == 0) { /* C = beta C (oneDNN rejects empty reductions) */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    key real = {(int)in, transA != 0, transB != 0, M, N, K, lda, ldb, ldc, alpha, beta};
    key k = key_of(d->shapes, real);
    entry *e;
    /* an open key oneDNN cannot serve falls back to the call's own shape (a pure function
     * of the key too: the same call always gets the same primitive) */
#pragma omp critical(ed_onednn_cache)
    {
        e = key_open(&k) ? lookup(d, &k, 1) : NULL;
        if (!e) e = lookup(d, &real, 0);
    }
    if (!d->stream[thread]) DNNL_OK(dnnl_stream_create(&d->stream[thread], d->engine, dnnl_stream_default_flags));
    if (d->pad_cap[thread] < e->pad_bytes) {
        free(d->pad[thread]);
        d->pad[thread] = ed_malloc(e->pad_bytes);
        d->pad_cap[thread] = e->pad_bytes;
    }
    dnnl_exec_arg_t args[4] = {
        {DNNL_ARG_SRC, NULL}, {DNNL_ARG_WEIGHTS, NULL}, {DNNL_ARG_DST, NULL},
        {DNNL_ARG_SCRATCHPAD, mem_at(d, e, thread, MEM_PAD, d->pad[thread])},
    };
    void *ptr[3] = {(void *)A, (void *)B, C};
    dnnl_memory_desc_t md[MEM_N];
    int open = key_open(&e->k);
    if (open) make_mds(&real, md); /* the call's own shape: memory objects for this call only */
    for (int j = MEM_A; j <= MEM_C; j++)
        if (open) DNNL_OK(dnnl_memory_create(&args[j].memory, &md[j], d->engine, ptr[j]));
        else args[j].memory = mem_at(d, e, thread, j, ptr[j]);
    DNNL_OK(dnnl_primitive_execute(e->prim, d->stream[thread], 4, args));
    DNNL_OK(dnnl_stream_wait(d->stream[thread]));
    if (open)
        for (int j = MEM_A; j <= MEM_C; j++) dnnl_memory_destroy(args[j].memory);
}

#else /* built without oneDNN */

ed_onednn *ed_onednn_create(char *msg, size_t msg_len) {
    if (msg && msg_len)
        snprintf(msg, msg_len, "this build has no oneDNN (install libdnnl-dev and rebuild); use --gemm openblas");
    return NULL;
}
void ed_onednn_free(ed_onednn *d) { (void)d; }
ed_gemm_shapes ed_onednn_set_shapes(ed_onednn *d, ed_gemm_shapes s) {
    (void)d;
    return s;
}
int ed_onednn_native(ed_onednn *d, ed_precision p) { (void)d, (void)p; return 0; }
long ed_onednn_primitives(const ed_onednn *d) { (void)d; return 0; }
const char *ed_onednn_impl(const ed_onednn *d) { (void)d; return ""; }
const char *ed_onednn_isa_name(void) { return ""; }
void ed_onednn_gemm(ed_onednn *d, ed_precision in, int thread, int transA, int transB, int M, int N, int K,
                    float alpha, const void *A, int lda, const void *B, int ldb, float beta, float *C, int ldc) {
    (void)d, (void)in, (void)thread, (void)transA, (void)transB, (void)M, (void)N, (void)K, (void)alpha;
    (void)A, (void)lda, (void)B, (void)ldb, (void)beta, (void)C, (void)ldc;
    ED_DIE("oneDNN GEMM called in a build without oneDNN");
}

#endif
