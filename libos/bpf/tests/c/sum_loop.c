/* A counted loop clang cannot fold into a formula: FNV-1a over the
 * counter, seeded from the context. */
#include "exo_bpf.h"

u64 sum_loop(struct ctx *ctx)
{
    u64 h = ctx->arg;
#pragma clang loop unroll(disable)
    for (u64 i = 0; i < 100; i++)
        h = (h ^ i) * 0x100000001b3ULL;
    return h;
}
