/* cli.h — helpers of the command-line front end (src/cli/), private to it. */
#ifndef EXPERT_CLI_H
#define EXPERT_CLI_H

#include <stddef.h>

/* The bundled corpus directory: $ED_DATA_DIR, else <exe dir>/../data, else
 * <exe dir>/../share/expert-dist/data (installed layout). 0 and the path when one holds
 * fortunes-train.txt, -1 otherwise (with the places looked at in `tried`). */
int cli_find_data_dir(char *out, size_t len, char *tried, size_t tried_len);

#endif
