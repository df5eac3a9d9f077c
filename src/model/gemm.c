/* gemm.c — cblas_sgemm split across the OpenMP threads.
 *
 * Why not let OpenBLAS thread its own GEMMs? Its pthread pool and OpenMP's are two sets
 * of threads that each spin for a while after their work; on a 2-core machine shared
 * with other jobs they steal each other's cores at every hand-over between a GEMM and
 * an elementwise loop. So the engine keeps ONE pool: during a pass OpenBLAS runs
 * single-threaded (see ed_blas_serial_begin) and this wrapper gives each OpenMP thread a
 * contiguous slab of the output. The slab is cut along the larger output dimension, so
 * the operand every thread must pack in full is the smaller one. */
#include <cblas.h>
#include <omp.h>

#include "layers.h"

int ed_blas_serial_begin(void) {
    int nb = openblas_get_num_threads();
    if (nb != 1) openblas_set_num_threads(1);
    return nb;
}

void ed_blas_serial_end(int saved) {
    if (saved != 1) openblas_set_num_threads(saved);
}

void ed_gemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc) {
    CBLAS_TRANSPOSE ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans;
    int nt = omp_get_max_threads();
    /* small products: the fork costs more than it saves */
    if (nt == 1 || omp_in_parallel() || (double)M * N * K < 262144.0) {
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    int split_m = M >= N;
    int len = split_m ? M : N, grain = split_m ? 4 : 16; /* kernel-friendly slab edges */
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        int per = (len + n - 1) / n;
        per = (per + grain - 1) / grain * grain;
        int lo = t * per, hi = lo + per < len ? lo + per : len;
        if (lo < hi) {
            if (split_m) {
                const float *a = transA ? A + lo : A + (size_t)lo * lda;
                cblas_sgemm(CblasRowMajor, ta, tb, hi - lo, N, K, alpha, a, lda, B, ldb, beta,
                            C + (size_t)lo * ldc, ldc);
            } else {
                const float *b = transB ? B + (size_t)lo * ldb : B + lo;
                cblas_sgemm(CblasRowMajor, ta, tb, M, hi - lo, K, alpha, A, lda, b, ldb, beta,
                            C + lo, ldc);
            }
        }
    }
}
