/* grad_bf16.h — the bf16-on-the-wire steps of the gradient sync (private to src/comm/;
 * the design is in dist.h, "bf16 on the wire"). */
#ifndef EXPERT_GRAD_BF16_H
#define EXPERT_GRAD_BF16_H

#include "expert/dist.h"

/* Step 1 of bucket i (floats [lo, lo + len) of buf): encode, start the alltoall. */
void ed_grad_bf16_launch(ed_grad_sync *g, int i, size_t lo, size_t len);
/* Step 2: wait for bucket i's alltoall, sum this rank's chunk in fp32, start the allgather. */
void ed_grad_bf16_sum(ed_grad_sync *g, int i);
/* Wait for bucket i's allgather and decode the sum into buf. */
void ed_grad_bf16_decode(ed_grad_sync *g, int i, size_t lo, size_t len);

#endif
