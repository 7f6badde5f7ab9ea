/* RFC 1071 checksum over the first 64 bytes of a packet (fewer if it is
 * shorter), with a bounds check before each 16-bit word. The counter and
 * the two explicit carry folds keep every loop provably bounded. */
#include "exo_bpf.h"

u64 checksum(struct ctx *ctx)
{
    u8 *data = (u8 *)(unsigned long)ctx->data;
    u8 *end = (u8 *)(unsigned long)ctx->data_end;
    u64 sum = 0;
#pragma clang loop unroll(disable)
    for (u64 i = 0; i < 32; i++) {
        u8 *p = data + 2 * i;
        if (p + 2 > end)
            break;
        sum += (u32)p[0] << 8 | p[1];
    }
    /* At most 32 words: two folds leave no carry. */
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return ~sum & 0xffff;
}
