/* envpack-demo: tiny shared library used by the envpack test fixtures. */
#ifndef ENVPACK_GREET_H
#define ENVPACK_GREET_H

/* Absolute path (inside the install prefix) of the greeting file.
 * It is compiled into libgreet as PREFIX "/share/envpack-demo/greeting.txt". */
const char *greet_data_path(void);

/* Reads the greeting file into buf (first line, no newline).
 * Returns 0 on success, -1 if the file could not be read. */
int greet_read(char *buf, unsigned long size);

/* Path of the shared object that holds libgreet's code, as the dynamic
 * loader opened it (dladdr), or "?" if unknown. */
const char *greet_library_path(void);

#endif
