/* threads.c — one knob for both thread pools (OpenBLAS for GEMMs, OpenMP for the rest). */
#include <cblas.h>
#include <omp.h>

#include "expert/gpt.h"

void ed_set_threads(int n) {
    if (n < 1) n = 1;
    openblas_set_num_threads(n);
    omp_set_num_threads(n);
}
