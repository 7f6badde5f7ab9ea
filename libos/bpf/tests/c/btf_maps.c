/* BTF-defined maps, libbpf style (compiled with -g so clang emits .BTF):
 * counts events per CPU and per key and reports them through a ring
 * buffer. */
#include "exo_bpf.h"

#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

struct {
    __uint(type, 27); /* BPF_MAP_TYPE_RINGBUF */
    __uint(max_entries, 4096);
} events __attribute__((section(".maps"), used));

struct {
    __uint(type, 5); /* BPF_MAP_TYPE_PERCPU_HASH */
    __uint(max_entries, 64);
    __type(key, u32);
    __type(value, u64);
} per_key __attribute__((section(".maps"), used));

struct pair {
    u64 a;
    u64 b;
};

struct {
    __uint(type, 9); /* BPF_MAP_TYPE_LRU_HASH */
    __uint(max_entries, 8);
    __uint(key_size, 8);
    __type(value, struct pair);
} lru __attribute__((section(".maps"), used));

static void *(*map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*map_update_elem)(void *map, const void *key, const void *value,
                               u64 flags) = (void *)2;
static long (*ringbuf_output)(void *map, void *data, u64 size,
                              u64 flags) = (void *)130;

__attribute__((section("prog"), used))
u64 count(struct ctx *ctx)
{
    u32 key = (u32)ctx->arg;
    u64 *n = map_lookup_elem(&per_key, &key);
    u64 count = 1;
    if (n) {
        *n += 1;
        count = *n;
    } else {
        map_update_elem(&per_key, &key, &count, 0);
    }
    u64 k = ctx->arg;
    struct pair p = { count, key };
    map_update_elem(&lru, &k, &p, 0);
    ringbuf_output(&events, &count, sizeof(count), 0);
    return count;
}
