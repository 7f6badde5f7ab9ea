/* A static Linux program (musl): built by tests/user/build.rs and run on
   exo by `linuxrun` through the Linux personality. It allocates through
   musl's malloc (brk and mmap), so the personality's memory calls run on
   the exokernel's frames and mappings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/utsname.h>

int main(int argc, char **argv) {
    struct utsname u;
    uname(&u);
    printf("hello from Linux %s argc=%d on %s %s, pid %d\n", argv[0], argc, u.sysname, u.machine, (int)getpid());

    /* Many small blocks, then one large one (musl maps large ones). */
    unsigned long sum = 0;
    char *small[64];
    for (int i = 0; i < 64; i++) {
        small[i] = malloc(100 + i);
        memset(small[i], i, 100 + i);
    }
    for (int i = 0; i < 64; i++) {
        sum += (unsigned char)small[i][99 + i];
        free(small[i]);
    }
    size_t big_len = 1 << 20;
    unsigned char *big = malloc(big_len);
    if (!big) {
        printf("malloc of 1 MiB failed\n");
        return 1;
    }
    for (size_t i = 0; i < big_len; i += 4096)
        big[i] = (unsigned char)(i >> 12);
    for (size_t i = 0; i < big_len; i += 4096)
        sum += big[i];
    free(big);

    /* mprotect: a read-only page stays readable. */
    unsigned char *p = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("mmap failed\n");
        return 1;
    }
    p[4096] = 42;
    if (mprotect(p + 4096, 4096, PROT_READ) != 0 || p[4096] != 42 || munmap(p, 8192) != 0) {
        printf("mprotect/munmap failed\n");
        return 1;
    }
    printf("malloc ok: checksum %lu\n", sum);
    return 7;
}
