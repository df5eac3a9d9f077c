/* clip.c — the clipping factor (torch.nn.utils.clip_grad_norm_ semantics); the norm itself
 * is ed_sumsq (norm.c). */
#include "expert/optim.h"

/* clip_grad_norm_: coef = max_norm / (norm + 1e-6), applied only when coef < 1. */
float ed_clip_factor(double total_norm, float max_norm) {
    if (!(max_norm > 0.0f)) return 1.0f;
    double coef = (double)max_norm / (total_norm + 1e-6);
    return coef < 1.0 ? (float)coef : 1.0f;
}
