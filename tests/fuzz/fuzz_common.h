/*
 * fuzz_common.h - what the codec fuzz targets share: a check that aborts
 * (so libFuzzer records the input) when a round-trip property fails.
 */
#ifndef KUMO_FUZZ_COMMON_H
#define KUMO_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz property failed: %s: ", #cond);                                  \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
