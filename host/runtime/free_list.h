/* host/runtime/free_list.h: free() over a list of pointers, for the *_free functions of result structs (internal). */
#ifndef FACECL_RUNTIME_FREE_LIST_H
#define FACECL_RUNTIME_FREE_LIST_H

#include <stddef.h>
#include <stdlib.h>

/* free(p[0]) .. free(p[n - 1]); NULL entries are fine (free(NULL) does nothing). */
static inline void fcl_free_list(void *const *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(p[i]);
}

/* FCL_FREE_ALL(a, b, ...): free each of the listed (non-const) pointers. */
#define FCL_FREE_ALL(...)                                                                          \
    fcl_free_list((void *const[]){__VA_ARGS__}, sizeof((void *const[]){__VA_ARGS__}) / sizeof(void *))

#endif
