/* Every new map kind from C: a sample goes into a time series, a per-CPU
 * counter and an LRU map, and an event into a ring buffer; returns the
 * number of samples so far. Carries an `.exo.sig` placeholder to sign. */
#include "exo_bpf.h"

typedef long long s64;

struct bpf_map_def {
    u32 type;
    u32 key_size;
    u32 value_size;
    u32 max_entries;
    u32 map_flags;
};

__attribute__((section("maps"), used))
struct bpf_map_def events = { 27 /* ringbuf */, 0, 0, 4096, 0 };
__attribute__((section("maps"), used))
struct bpf_map_def per_cpu = { 6 /* percpu array */, 4, 8, 1, 0 };
__attribute__((section("maps"), used))
struct bpf_map_def recent = { 9 /* LRU hash */, 4, 8, 2, 0 };
__attribute__((section("maps"), used))
struct bpf_map_def samples = { 0x80000001 /* exo time series */, 8, 8, 16, 0 };

/* Filled in by exo_bpf::elf::sign. */
__attribute__((section(".exo.sig"), used))
char exo_sig[96] = { 0 };

static void *(*map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*map_update_elem)(void *map, const void *key, const void *value,
                               u64 flags) = (void *)2;
static u32 (*get_smp_processor_id)(void) = (void *)8;
static void *(*ringbuf_reserve)(void *map, u64 size, u64 flags) = (void *)131;
static void (*ringbuf_submit)(void *data, u64 flags) = (void *)132;
static long (*exo_ts_push)(void *map, u64 ts, s64 value) = (void *)2048;
static long (*exo_ts_window)(void *map, u64 t0, u64 t1, void *out,
                             u32 size) = (void *)2049;

struct event {
    u64 ts;
    u64 cpu;
};

struct stats {
    u64 count;
    s64 min;
    s64 max;
    s64 mean;
};

__attribute__((section("prog"), used))
u64 sensor(struct ctx *ctx)
{
    u64 ts = ctx->arg;
    exo_ts_push(&samples, ts, (s64)ts * 10 - 50);

    u32 zero = 0;
    u64 *n = map_lookup_elem(&per_cpu, &zero);
    if (n)
        *n += 1;

    u32 key = (u32)ts;
    map_update_elem(&recent, &key, &ts, 0);

    struct event *e = ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e)
        return 0;
    e->ts = ts;
    e->cpu = get_smp_processor_id();
    ringbuf_submit(e, 0);

    struct stats st;
    exo_ts_window(&samples, 0, ts + 1, &st, sizeof(st));
    return st.count;
}
