#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    char name[256] = "";
    if (fgets(name, sizeof name, stdin) != NULL) {
        name[strcspn(name, "\r\n")] = '\0';
    }
    printf("Hello, %s!\n", name);
    if (argc > 1) {
        for (int i = 1; i < argc; i++) printf("arg: %s\n", argv[i]);
        puts("Grüße, 世界 ✓");
        return 3;
    }
    return 0;
}
