
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _TAP_H_INCLUDED_
#define _TAP_H_INCLUDED_


/*
 * Minimal TAP producer for the C unit tests, read by prove(1).
 *
 *   ok(cond, "name");               is_int(got, want, "name");
 *   is_str(got, want, "name");      is_mem(got, want, len, "name");
 *   diag("fmt", ...);               return done_testing();
 */


#include <stdio.h>
#include <string.h>
#include <stdarg.h>
#include <stdint.h>


static int  tap_n;
static int  tap_failed;


static void
diag(const char *fmt, ...)
{
    va_list  args;

    fputs("# ", stdout);
    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);
    fputs("\n", stdout);
}


static int
tap_result(int pass, const char *name, const char *file, int line)
{
    tap_n++;

    printf("%sok %d - %s\n", pass ? "" : "not ", tap_n, name);

    if (!pass) {
        tap_failed++;
        printf("#   Failed test '%s'\n#   at %s line %d.\n", name, file,
               line);
    }

    return pass;
}


#define ok(cond, name)  tap_result(!!(cond), name, __FILE__, __LINE__)

#define is_int(got, want, name)                                               \
    do {                                                                      \
        long long  g__ = (long long) (got), w__ = (long long) (want);         \
        if (!tap_result(g__ == w__, name, __FILE__, __LINE__)) {              \
            diag("         got: %lld", g__);                                  \
            diag("    expected: %lld", w__);                                  \
        }                                                                     \
    } while (0)

#define is_str(got, want, name)                                               \
    do {                                                                      \
        const char  *g__ = (got), *w__ = (want);                              \
        int  p__ = g__ != NULL && w__ != NULL && strcmp(g__, w__) == 0;       \
        if (!tap_result(p__, name, __FILE__, __LINE__)) {                     \
            diag("         got: '%s'", g__ ? g__ : "(null)");                 \
            diag("    expected: '%s'", w__ ? w__ : "(null)");                 \
        }                                                                     \
    } while (0)

#define is_mem(got, want, len, name)                                          \
    tap_result(memcmp(got, want, len) == 0, name, __FILE__, __LINE__)


static int
done_testing(void)
{
    printf("1..%d\n", tap_n);

    return tap_failed ? 1 : 0;
}


#endif /* _TAP_H_INCLUDED_ */
