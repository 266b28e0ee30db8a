/* version.c: what -V prints in every binary: the version and the licence (LICENSE). */
#include <stdio.h>

#include "daemon.h"

extern const char hs_license[];   /* LICENSE, compiled in by the Makefile */

void print_version(const char *prog)
{
    printf("%s %s\n\n%s", prog, HS_VERSION, hs_license);
}
