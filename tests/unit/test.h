/* A tiny test harness for the C unit tests: CHECK macros that count and report failures with their line,
 * and a summary line. Each tests/unit/test_*.c is one ctest executable. */
#ifndef PL_TEST_H
#define PL_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int t_pass, t_fail;

#define CHECK(cond) do { if (cond) t_pass++; else { t_fail++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECKF(cond, ...) do { if (cond) t_pass++; else { t_fail++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define CHECK_NEAR(a, b, tol) do { double _a = (a), _b = (b); \
    if (fabs(_a - _b) <= (tol)) t_pass++; else { t_fail++; \
    fprintf(stderr, "%s:%d: %s = %.9g, %s = %.9g, |diff| %.3g > %.3g\n", __FILE__, __LINE__, \
            #a, _a, #b, _b, fabs(_a - _b), (double)(tol)); } } while (0)

/* Root of the source tree (fixtures live under it); ctest sets PLINTH_ROOT. */
static inline const char *test_root(void) { const char *r = getenv("PLINTH_ROOT"); return r ? r : "."; }
/* True under the sanitizer build, where slow loops are shortened. */
static inline int test_fast(void) { return getenv("PLINTH_FAST_TESTS") != NULL; }

#define TEST_DONE() do { printf("%d passed, %d failed\n", t_pass, t_fail); return t_fail ? 1 : 0; } while (0)

#endif
