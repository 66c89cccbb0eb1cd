/* demo-interp: a stand-in script interpreter, so shebang lines that point
 * into the environment (#!PREFIX/bin/demo-interp) can be exercised without
 * python. Prints its argv and the first lines of the script it was given. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    printf("demo-interp: argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    /* With a shebang, the script path is the last argument the kernel adds
     * before the user's arguments: argv[1] without an interpreter argument,
     * argv[2] with one. Print lines of the first argument that opens. */
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "r");
        if (!f)
            continue;
        char line[1024];
        for (int n = 1; n <= 3 && fgets(line, sizeof line, f); n++) {
            line[strcspn(line, "\r\n")] = '\0';
            printf("script[%d]: %s\n", n, line);
        }
        fclose(f);
        break;
    }
    return 0;
}
