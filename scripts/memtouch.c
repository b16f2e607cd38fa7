/*
 * A container process that has touched a lot of anonymous memory and keeps writing a small
 * part of it: the subject of the pre-copy and post-copy benchmark (scripts/bench_precopy.py).
 *
 *     memtouch MIB HOT_MIB
 *
 * Fills MIB MiB of heap with a known pattern (every page touched), then every 50 ms writes one
 * word in each page of the first HOT_MIB MiB, checks 256 words of the rest against the pattern,
 * and prints the round number: a restored copy counts on from where it was, and a page that came
 * back wrong ends it with "corrupt at word N" (exit 1).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? strtoul(argv[1], 0, 10) : 256;
    size_t hot_mib = argc > 2 ? strtoul(argv[2], 0, 10) : 4;
    size_t words = mib << 17, hot = hot_mib << 17; /* 8-byte words */
    const uint64_t k = 0x9E3779B97F4A7C15ull;
    uint64_t *memory = malloc(words * sizeof(uint64_t));
    if (memory == NULL || hot >= words)
        return 2;
    for (size_t i = 0; i < words; i++)
        memory[i] = i * k;
    printf("touched %zu MiB\n", mib);
    fflush(stdout);
    struct timespec pause = {0, 50 * 1000 * 1000};
    for (uint64_t round = 1;; round++) {
        for (size_t i = 0; i < hot; i += 512) /* one word per 4 KiB page */
            memory[i] = round;
        for (uint64_t j = 0; j < 256; j++) {
            size_t i = hot + (round * 2654435761u + j * 40503u) % (words - hot);
            if (memory[i] != i * k) {
                printf("corrupt at word %zu\n", i);
                fflush(stdout);
                return 1;
            }
        }
        printf("%llu\n", (unsigned long long)round);
        fflush(stdout);
        nanosleep(&pause, NULL);
    }
}
