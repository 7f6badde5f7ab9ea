/* Counts calls per key in a hash map declared the legacy way, using the
 * standard helpers and an atomic add on the map value. */
#include "exo_bpf.h"

struct bpf_map_def {
    u32 type;
    u32 key_size;
    u32 value_size;
    u32 max_entries;
    u32 map_flags;
};

__attribute__((section("maps"), used))
struct bpf_map_def counts = { 1 /* hash */, 4, 8, 16, 0 };

static void *(*map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*map_update_elem)(void *map, const void *key, const void *value,
                               u64 flags) = (void *)2;

__attribute__((section("prog"), used))
u64 count(struct ctx *ctx)
{
    u32 key = (u32)ctx->arg;
    u64 *value = map_lookup_elem(&counts, &key);
    if (value)
        return __sync_fetch_and_add(value, 1) + 1;
    u64 one = 1;
    map_update_elem(&counts, &key, &one, 0);
    return 1;
}
