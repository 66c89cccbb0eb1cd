/* tailmerge: the linker tail-merge case. Built with -Os -Wl,-O1 so GNU ld
 * stores "greeting.txt" as the tail of the longer prefixed string (one copy
 * in .rodata.str1.1). conda's binary placeholder replacement NUL-pads the
 * long string at its end, so after a conda-style install "basename" no longer
 * points at "greeting.txt" but into the NUL padding, and prints empty.
 * This reproduces a real conda limitation; it is not a bug of the fixture. */
#include <stdio.h>

int main(void)
{
    const char *full = ENVPACK_PREFIX "/share/envpack-demo/greeting.txt";
    const char *base = "greeting.txt";
    printf("full: %s\n", full);
    printf("basename: %s\n", base);
    return 0;
}
