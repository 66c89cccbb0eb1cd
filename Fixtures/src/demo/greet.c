/* greet: prints the greeting libgreet read from the env, the data path that
 * was compiled into libgreet, the library the loader picked (it must be the
 * env's own lib/libgreet.so.1), and the prefix compiled into this binary.
 * Linked with an absolute RPATH (bin/greet) or RUNPATH (bin/greet-runpath)
 * of PREFIX/lib. Exit status 0 only if the greeting could be read. */
#include <stdio.h>
#include "greet.h"

static const char compiled_prefix[] = ENVPACK_PREFIX;

int main(void)
{
    char buf[256];
    int rc = greet_read(buf, sizeof buf);
    printf("greeting: %s\n", rc == 0 ? buf : "<unreadable>");
    printf("data: %s\n", greet_data_path());
    printf("library: %s\n", greet_library_path());
    printf("prefix: %s\n", compiled_prefix);
    return rc == 0 ? 0 : 1;
}
