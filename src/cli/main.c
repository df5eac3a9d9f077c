/* main.c — placeholder entry point; replaced by the CLI (issue 5). */
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include "expert/common.h"
int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    if (argc > 1 && strcmp(argv[1], "--version") == 0) printf("expert-dist %s (%s)\n", ED_VERSION, ED_GIT_COMMIT);
    MPI_Finalize();
    return 0;
}
