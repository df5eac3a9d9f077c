/* bench_attention.h — the pre-tiling attention kernel (bench_attention_gemm.c), the
 * baseline ed-bench-attention measures the tiled kernel against. Contracts as the old
 * kernels.h stated them: att/attd are (B,H,T,T), attd only with dropout; scratch holds
 * ED_ATT_BLOCK*T floats per thread. */
#ifndef ED_BENCH_ATTENTION_H
#define ED_BENCH_ATTENTION_H

#include <stdint.h>

#include "gemm.h"

void old_attention_forward(ed_gemm_ctx *g, float *out, float *att, float *attd, const float *qkv, const int *seg,
                           int B, int T, int D, int H, int G, float p, uint64_t seed);
void old_attention_backward(ed_gemm_ctx *g, float *dqkv, float *scratch, const float *dout, const float *qkv,
                            const float *att, const float *attd, const int *seg, int B, int T, int D, int H, int G,
                            float p, int threads);

#endif
