/* A static Linux program (musl): built by tests/user/build.rs and run on
   exo by `linuxrun` through the Linux personality. It allocates through
   musl's malloc (brk and mmap), so the personality's memory calls run on
   the exokernel's frames and mappings; then it checks files, pipes,
   epoll, eventfd, signals (a handler on the alternate stack and its
   sigreturn), time, futexes and /proc through the personality on the
   real kernel, four threads sharing a mutex and a condition, and finally
   execs itself, whose second image checks its
   arguments and exits 7. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

/* Checks of the personality on the real kernel: each prints one line and
   counts; the scenario expects the summary "linux checks: N passed, 0
   failed". */
static int passed, failed;

/* What the SIGUSR2 handler saw. */
static volatile sig_atomic_t handled_sig, handled_code;
static volatile uintptr_t handler_sp;

static void on_usr2(int sig, siginfo_t *si, void *uc) {
    int local;
    (void)uc;
    handled_sig = sig;
    handled_code = si->si_signo;
    handler_sp = (uintptr_t)&local;
}

static void check(int ok, const char *what) {
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("check failed: %s (errno %d)\n", what, errno);
    }
}

/* Threads: each adds to a counter under a mutex, in small steps, and
   records its thread id; the last to finish signals a condition. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_done = PTHREAD_COND_INITIALIZER;
static long counter;
static int finished;
static long tids[4];

static void *worker(void *arg) {
    long me = (long)arg;
    tids[me] = syscall(SYS_gettid);
    for (int i = 0; i < 2000; i++) {
        pthread_mutex_lock(&lock);
        long v = counter;
        if (i % 64 == 0)
            sched_yield();
        counter = v + 1;
        pthread_mutex_unlock(&lock);
    }
    pthread_mutex_lock(&lock);
    if (++finished == 4)
        pthread_cond_signal(&all_done);
    pthread_mutex_unlock(&lock);
    return (void *)(me * 10);
}

static void thread_checks(void) {
    pthread_t t[4];
    int made = 0;
    for (long i = 0; i < 4; i++)
        made += pthread_create(&t[i], 0, worker, (void *)i) == 0;
    pthread_mutex_lock(&lock);
    while (finished < 4)
        pthread_cond_wait(&all_done, &lock);
    pthread_mutex_unlock(&lock);
    long sum = 0;
    for (int i = 0; i < 4; i++) {
        void *ret = 0;
        if (pthread_join(t[i], &ret) == 0)
            sum += (long)ret;
    }
    int distinct = 1;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < i; j++)
            distinct &= tids[i] != tids[j] && tids[i] != getpid();
    check(made == 4 && counter == 8000 && sum == 60, "threads: a counter under a mutex, a condition, joins");
    check(distinct, "threads: each its own id");
}

static void personality_checks(void) {
    /* Files on the libOS tmpfs: create, write, stat, statx, read back. */
    int fd = open("/tmp/linux-check", O_RDWR | O_CREAT | O_TRUNC, 0640);
    check(fd >= 0, "open O_CREAT");
    check(write(fd, "exo linux", 9) == 9, "write");
    struct stat st;
    check(fstat(fd, &st) == 0 && st.st_size == 9 && S_ISREG(st.st_mode), "fstat");
    /* statx (332) by hand: musl 1.2.3 has neither the wrapper nor the
       struct, so read the documented offsets. */
    unsigned char sx[256];
    memset(sx, 0xee, sizeof sx);
    long r = syscall(332, AT_FDCWD, "/tmp/linux-check", 0, 0x7ff, sx);
    uint64_t sx_size, sx_ino;
    uint16_t sx_mode;
    memcpy(&sx_size, sx + 40, 8);
    memcpy(&sx_ino, sx + 32, 8);
    memcpy(&sx_mode, sx + 28, 2);
    check(r == 0 && sx_size == 9 && (sx_mode & 0777) == 0640 && sx_ino == st.st_ino, "statx");
    char buf[16] = {0};
    check(lseek(fd, 0, SEEK_SET) == 0 && read(fd, buf, sizeof buf) == 9 && memcmp(buf, "exo linux", 9) == 0,
          "lseek and read");
    close(fd);
    check(open("/tmp/none", O_RDONLY) < 0 && errno == ENOENT, "ENOENT");

    /* A pipe watched by epoll, an eventfd. */
    int p[2];
    check(pipe2(p, O_CLOEXEC) == 0, "pipe2");
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 77};
    check(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0, "epoll_ctl");
    struct epoll_event out;
    check(epoll_wait(ep, &out, 1, 0) == 0, "epoll: nothing yet");
    check(write(p[1], "x", 1) == 1, "pipe write");
    check(epoll_wait(ep, &out, 1, 0) == 1 && out.data.u64 == 77 && (out.events & EPOLLIN), "epoll: readable");
    int efd = eventfd(3, 0);
    uint64_t v = 0;
    check(efd >= 0 && read(efd, &v, 8) == 8 && v == 3, "eventfd");

    /* Signals: an alternate stack, a blocked signal stays pending. */
    static char alt[16384];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0}, old;
    check(sigaltstack(&ss, 0) == 0 && sigaltstack(0, &old) == 0 && old.ss_sp == alt && old.ss_size == sizeof alt,
          "sigaltstack");
    sigset_t set, now;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    check(sigprocmask(SIG_BLOCK, &set, 0) == 0 && sigprocmask(SIG_BLOCK, 0, &now) == 0 &&
              sigismember(&now, SIGUSR1) && kill(getpid(), SIGUSR1) == 0,
          "block, then raise a blocked signal");
    /* A handler on the alternate stack (SA_ONSTACK), with siginfo; the
       interrupted code's registers, FPU state and mask come back through
       rt_sigreturn (musl's restorer). */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr2;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    volatile double fp = 1.25;
    check(sigaction(SIGUSR2, &sa, 0) == 0 && raise(SIGUSR2) == 0 && handled_sig == SIGUSR2 &&
              handled_code == SIGUSR2,
          "signal handler with siginfo");
    check(handler_sp > (uintptr_t)alt && handler_sp < (uintptr_t)alt + sizeof alt, "handler ran on the alternate stack");
    check(fp * 4 == 5.0, "FPU state across the handler");
    check(sigprocmask(SIG_BLOCK, 0, &now) == 0 && !sigismember(&now, SIGUSR2) && sigismember(&now, SIGUSR1),
          "mask restored by sigreturn");

    /* Time, randomness, futex without waiters, the process's /proc. */
    struct timespec t1, t2;
    check(clock_gettime(CLOCK_MONOTONIC, &t1) == 0 && clock_gettime(CLOCK_MONOTONIC, &t2) == 0 &&
              (t2.tv_sec > t1.tv_sec || (t2.tv_sec == t1.tv_sec && t2.tv_nsec >= t1.tv_nsec)),
          "clock_gettime monotonic");
    unsigned char rnd[16] = {0}, zero[16] = {0};
    check(getrandom(rnd, sizeof rnd, 0) == sizeof rnd && memcmp(rnd, zero, 16) != 0, "getrandom");
    int word = 0;
    /* FUTEX_WAKE | FUTEX_PRIVATE_FLAG, FUTEX_WAIT | FUTEX_PRIVATE_FLAG. */
    check(syscall(SYS_futex, &word, 1 | 128, 1, 0, 0, 0) == 0, "futex wake");
    check(syscall(SYS_futex, &word, 0 | 128, 1, 0, 0, 0) == -1 && errno == EAGAIN,
          "futex wait on a changed value");
    char path[64], comm[32] = {0}, pers[32] = {0};
    snprintf(path, sizeof path, "/proc/%d/comm", (int)getpid());
    int cf = open(path, O_RDONLY);
    check(cf >= 0 && read(cf, comm, sizeof comm - 1) > 0 && strncmp(comm, "hello", 5) == 0, "/proc/<pid>/comm");
    snprintf(path, sizeof path, "/proc/%d/personality", (int)getpid());
    int pf = open(path, O_RDONLY);
    check(pf >= 0 && read(pf, pers, sizeof pers - 1) > 0 && strncmp(pers, "linux", 5) == 0,
          "/proc/<pid>/personality");
    thread_checks();
    printf("linux checks: %d passed, %d failed\n", passed, failed);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "exec'd") == 0) {
        /* The second image: same process, fresh program. */
        int same = atoi(argv[2]) == (int)getpid();
        printf("linux exec: %s argc=%d, same pid: %s\n", argv[0], argc, same ? "yes" : "no");
        return same ? 7 : 1;
    }
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
    personality_checks();
    if (failed)
        return 1;
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    char *args[] = {argv[0], "exec'd", pid, 0};
    char *env[] = {"EXO=1", 0};
    fflush(stdout);
    execve(argv[0], args, env);
    printf("execve failed: errno %d\n", errno);
    return 1;
}
