/* A static Linux program (musl): built by tests/user/build.rs and run on
   exo by `linuxrun` through the Linux personality. */
#include <stdio.h>
#include <unistd.h>
#include <sys/utsname.h>

int main(int argc, char **argv) {
    struct utsname u;
    uname(&u);
    printf("hello from Linux %s argc=%d on %s %s, pid %d\n", argv[0], argc, u.sysname, u.machine, (int)getpid());
    return 7;
}
