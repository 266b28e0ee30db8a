/*
 * swap-race DIR TARGET SECONDS COUNT: a hostile local user racing syncd's receiver while
 * it creates DIR/d0 .. DIR/d<COUNT-1> in order. Whenever it runs it takes the directory
 * the receiver created last, removes it at once and puts a symlink to TARGET in its
 * place, hoping that the receiver was stopped between creating the directory and
 * applying its mode or owner, and does that by name, following the link. Run on the
 * receiver's CPU, it gets there whenever the scheduler switches between the two.
 * Prints "ready", then "swaps N" when done. Built by the test that uses it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int exists(int dfd, int i)
{
    char name[32];
    snprintf(name, sizeof(name), "d%d", i);
    return faccessat(dfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: swap-race DIR TARGET SECONDS COUNT\n");
        return 2;
    }
    int dfd = open(argv[1], O_RDONLY | O_DIRECTORY);
    if (dfd < 0) {
        perror(argv[1]);
        return 1;
    }
    time_t end = time(NULL) + atoi(argv[3]);
    int count = atoi(argv[4]), frontier = 0, tried = -1;
    unsigned long swaps = 0;
    printf("ready\n");
    fflush(stdout);
    while (frontier < count && time(NULL) < end) {
        while (frontier < count && exists(dfd, frontier))
            frontier++;
        if (frontier - 1 <= tried)
            continue;
        tried = frontier - 1;
        char name[32];
        snprintf(name, sizeof(name), "d%d", tried);
        if (unlinkat(dfd, name, AT_REMOVEDIR) == 0 && symlinkat(argv[2], dfd, name) == 0)
            swaps++;
    }
    printf("swaps %lu\n", swaps);
    return 0;
}
