/* A BPF-to-BPF call, with a stack buffer passed to the callee. */
#include "exo_bpf.h"

static __attribute__((noinline)) u64 fill(u64 *buf, u64 seed);

u64 call_main(struct ctx *ctx)
{
    u64 buf[2];
    u64 x = fill(buf, ctx->arg);
    return x + buf[0] + buf[1];
}

static __attribute__((noinline)) u64 fill(u64 *buf, u64 seed)
{
    buf[0] = seed * 3;
    buf[1] = seed + 7;
    return buf[0] ^ buf[1];
}
