/* fuzz_ini.c — config files: ed_options_load_ini on arbitrary bytes (through a file, as
 * a user's is read), then validation, printing and the JSON form of whatever was accepted.
 * Properties: no crash; a failure names the file with a line number; an accepted config
 * prints and serializes without trouble (the effective config goes into history.json). */
#include "expert/options.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    const char *path = fuzz_write_tmp(".ini", data, size);
    ed_options o;
    ed_options_defaults(&o);
    ed_error err = {{0}};
    if (ed_options_load_ini(&o, path, &err) != 0) {
        FUZZ_CHECK(strncmp(err.msg, path, strlen(path)) == 0, "message does not name the file: %s", err.msg);
        return 0;
    }
    (void)ed_options_validate(&o, &err);
    FILE *devnull = fopen("/dev/null", "w");
    if (!devnull) abort();
    ed_options_print(&o, devnull);
    fclose(devnull);
    char *json = ed_options_to_json(&o);
    FUZZ_CHECK(json && json[0] == '{', "to_json");
    free(json);
    return 0;
}
