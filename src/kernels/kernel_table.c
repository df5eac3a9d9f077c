/* kernel_table.c — one path's table of kernels (compiled once per path, see kernels.h). */
#include "kernels.h"

#ifndef ED_KSUFFIX
#error "kernel_table.c is compiled once per ISA path with ED_KSUFFIX set (CMakeLists.txt)"
#endif

#define ED_KENTRY_V(name, params, args) .name = ED_KFN(name),
#define ED_KENTRY_R(type, name, params, args) .name = ED_KFN(name),
const ed_kernels ED_KCAT(ed_kernels, ED_KSUFFIX) = {ED_KERNELS(ED_KENTRY_V, ED_KENTRY_R)};
