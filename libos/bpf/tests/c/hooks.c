/* Programs for the attach points of `exo_bpf::hooks`, one section each.
 * The context structs mirror the layouts documented there. */
#include "exo_bpf.h"

typedef int s32;
typedef long long s64;

struct bpf_map_def {
    u32 type;
    u32 key_size;
    u32 value_size;
    u32 max_entries;
    u32 map_flags;
};

static void *(*map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*exo_ts_push)(void *map, u64 ts, s64 value) = (void *)2048;
static long (*exo_ts_window)(void *map, u64 t0, u64 t1, void *out,
                             u32 size) = (void *)2049;

/* [0]: samples with |ax| above the limit; [1]: largest |ax| seen. */
__attribute__((section("maps"), used))
struct bpf_map_def imu_stats = { 2 /* array */, 4, 8, 2, 0 };
/* Denied system calls: number -> error code. */
__attribute__((section("maps"), used))
struct bpf_map_def denied = { 1 /* hash */, 8, 8, 16, 0 };
/* Accepted GPIO edges: time -> level. */
__attribute__((section("maps"), used))
struct bpf_map_def edges = { 0x80000001 /* exo time series */, 8, 8, 64, 0 };

struct imu_sample {
    u64 timestamp_ns;
    s32 ax, ay, az;
    s32 gx, gy, gz;
};

struct pwm_update {
    u32 channel;
    u32 duty;
    u32 period;
    u32 reserved;
};

struct syscall {
    u64 nr;
    u64 args[6];
    s64 ret;
};

struct gpio_edge {
    u32 pin;
    u32 level;
    u64 timestamp_ns;
};

struct stats {
    u64 count;
    s64 min;
    s64 max;
    s64 mean;
};

#define IMU_LIMIT 800 /* milli-g */

__attribute__((section("imu"), used))
u64 imu_threshold(struct imu_sample *s)
{
    s64 ax = s->ax;
    u64 mag = ax < 0 ? -ax : ax;
    u32 key = 1;
    u64 *max = map_lookup_elem(&imu_stats, &key);
    if (max && mag > *max)
        *max = mag;
    if (mag <= IMU_LIMIT)
        return 0;
    key = 0;
    u64 *count = map_lookup_elem(&imu_stats, &key);
    if (count)
        __sync_fetch_and_add(count, 1);
    return 1;
}

/* Never more than 80% duty. */
__attribute__((section("pwm"), used))
u64 pwm_clamp(struct pwm_update *u)
{
    u32 limit = u->period / 10 * 8;
    return u->duty > limit ? limit : u->duty;
}

/* Denies the calls listed in `denied`, with the listed code. */
__attribute__((section("syscall"), used))
u64 syscall_filter(struct syscall *c)
{
    u64 nr = c->nr;
    u64 *code = map_lookup_elem(&denied, &nr);
    return code ? *code : 0;
}

#define DEBOUNCE_NS 1000000 /* 1 ms */

/* Suppresses edges within 1 ms of the last accepted one; records accepted
 * edges in a time series. */
__attribute__((section("gpio"), used))
u64 gpio_debounce(struct gpio_edge *e)
{
    u64 ts = e->timestamp_ns;
    u64 t0 = ts > DEBOUNCE_NS ? ts - DEBOUNCE_NS : 0;
    struct stats st;
    exo_ts_window(&edges, t0, ts, &st, sizeof(st));
    if (st.count)
        return 0;
    exo_ts_push(&edges, ts, e->level);
    return 1;
}
