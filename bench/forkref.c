/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-savevm-live benchmark: the reference cost of a bare fork().
 *
 *   forkref SIZE_MIB THP REPS
 *
 * Maps SIZE_MIB of private anonymous memory (with MADV_HUGEPAGE when THP is
 * 1, so that it gets transparent huge pages when the host's
 * /sys/kernel/mm/transparent_hugepage/enabled is "madvise" or "always"),
 * writes every 4 KiB page of it, then times fork() REPS times: the time the
 * parent spends in fork() until it returns, which is what a process with
 * that much RAM pays to fork (the child _exit()s at once and is reaped
 * outside the timed part).  Prints one JSON object on stdout.
 */

#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long anon_huge_kib(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    long kib = -1;

    if (!f) {
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "AnonHugePages: %ld kB", &kib) == 1) {
            break;
        }
    }
    fclose(f);
    return kib;
}

int main(int argc, char **argv)
{
    uint64_t size;
    int thp, reps, i;
    unsigned char *p;
    double fill_ms;

    if (argc != 4) {
        fprintf(stderr, "usage: %s SIZE_MIB THP(0|1) REPS\n", argv[0]);
        return 2;
    }
    size = strtoull(argv[1], NULL, 0) << 20;
    thp = atoi(argv[2]);
    reps = atoi(argv[3]);
    if (!size || reps < 1) {
        fprintf(stderr, "forkref: bad arguments\n");
        return 2;
    }
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
    if (p == MAP_FAILED) {
        perror("forkref: mmap");
        return 1;
    }
    if (thp && madvise(p, size, MADV_HUGEPAGE) < 0) {
        perror("forkref: madvise(MADV_HUGEPAGE)");
    }
    fill_ms = now_ms();
    for (uint64_t off = 0; off < size; off += 4096) {
        p[off] = (unsigned char)(off >> 12) | 1;
    }
    fill_ms = now_ms() - fill_ms;

    printf("{\"size_mib\": %" PRIu64 ", \"thp\": %d, \"fill_ms\": %.1f, "
           "\"anon_huge_kib\": %ld, \"fork_ms\": [", size >> 20, thp, fill_ms,
           anon_huge_kib());
    for (i = 0; i < reps; i++) {
        double t0 = now_ms(), t1;
        pid_t pid = fork();

        if (pid == 0) {
            _exit(0);
        }
        t1 = now_ms();
        if (pid < 0) {
            perror("forkref: fork");
            return 1;
        }
        waitpid(pid, NULL, 0);
        printf("%s%.3f", i ? ", " : "", t1 - t0);
    }
    printf("]}\n");
    return 0;
}
