/* Minimal definitions shared by the test programs (no libbpf headers).
 * Functions are left in .text: the entry point must come first, and calls
 * between functions of one section need no relocation. */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

/* The context the tests pass: packet bounds first, then one argument. */
struct ctx {
    u64 data;
    u64 data_end;
    u64 arg;
};
