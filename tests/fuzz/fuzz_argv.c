/* fuzz_argv.c — the command line: the input split at NUL bytes into argv and given to
 * ed_options_parse_argv, then ed_options_set on the first argument pair directly.
 * Properties: no crash and no read past any argument; a failure has a message. Inputs
 * that would load a config file (-c, --config) are skipped: fuzz_ini covers that reader
 * and a fuzzed path could point anywhere. */
#include "expert/options.h"
#include "fuzz_util.h"

enum { MAX_ARGS = 32 };

static int loads_config(const char *a) {
    if (strncmp(a, "--", 2) == 0) return strncmp(a + 2, "config", 6) == 0 || strncmp(a + 2, "co", 2) == 0;
    return a[0] == '-' && strchr(a, 'c') != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 2048) return 0;
    char *buf = fuzz_cstr(data, size);
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    for (size_t i = 0; i <= size && argc < MAX_ARGS;) {
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    argv[argc] = NULL;
    for (int i = 0; i < argc; i++)
        if (loads_config(argv[i])) {
            free(buf);
            return 0;
        }
    ed_options o;
    ed_args a = {0};
    ed_error err = {{0}};
    if (ed_options_parse_argv(&o, argc, argv, &a, &err) != 0) {
        FUZZ_CHECK(err.msg[0], "failure without a message");
    } else {
        for (int i = 0; i < a.n_positional; i++)
            FUZZ_CHECK(a.positional[i] >= buf && a.positional[i] < buf + size + 1, "positional %d", i);
        (void)ed_options_validate(&o, &err);
    }
    ed_args_free(&a);
    if (argc >= 2) {
        ed_options_defaults(&o);
        (void)ed_options_set(&o, argv[0], argv[1], &err);
        const ed_option_spec *spec = ed_option_find(argv[0]);
        if (spec) {
            char text[ED_PATH_MAX + 64];
            ed_options_format(&o, spec, text, sizeof text);
        }
    }
    free(buf);
    return 0;
}
