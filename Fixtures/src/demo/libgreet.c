/* libgreet: opens a data file whose absolute path is compiled in.
 * ENVPACK_PREFIX is the conda-build style placeholder prefix; after a conda
 * style install it is rewritten (binary mode: NUL padded) to the real prefix. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include "greet.h"

#ifndef ENVPACK_PREFIX
#error "ENVPACK_PREFIX must be defined"
#endif

/* A char array (not a pointer to a literal): lives in .rodata as one
 * NUL-terminated string, never tail-merged with other strings. */
static const char data_path[] = ENVPACK_PREFIX "/share/envpack-demo/greeting.txt";

const char *greet_data_path(void) { return data_path; }

int greet_read(char *buf, unsigned long size)
{
    FILE *f = fopen(data_path, "r");
    if (!f)
        return -1;
    if (!fgets(buf, (int)size, f)) {
        fclose(f);
        return -1;
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

const char *greet_library_path(void)
{
    Dl_info info;
    if (dladdr((void *)&greet_read, &info) && info.dli_fname)
        return info.dli_fname;
    return "?";
}
