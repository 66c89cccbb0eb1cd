/* legacy-hello: from the legacy-format fixture package (info/has_prefix,
 * no info/paths.json). Prints the config path compiled into it (binary
 * has_prefix entry) and the first line of that config file (text entry). */
#include <stdio.h>
#include <string.h>

static const char conf_path[] = ENVPACK_PREFIX "/etc/envpack-legacy.conf";

int main(void)
{
    char line[512] = "<unreadable>";
    FILE *f = fopen(conf_path, "r");
    int ok = 0;
    if (f) {
        if (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n")] = '\0';
            ok = 1;
        }
        fclose(f);
    }
    printf("legacy-hello: conf=%s\n", conf_path);
    printf("legacy-hello: %s\n", line);
    return ok ? 0 : 1;
}
