// Small C pieces Swift cannot reach directly.
#ifndef ENVPACK_CSUPPORT_H
#define ENVPACK_CSUPPORT_H
#include <stddef.h>

/// glibc's memmem (declared only under _GNU_SOURCE, which Swift's Glibc
/// module does not set).
const void *envpack_memmem(const void *haystack, size_t haystack_len,
                           const void *needle, size_t needle_len);

#endif
