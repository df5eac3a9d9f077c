/* bench_windows.c — timing for scripts/bench_data.sh (not a test): how fast a rank is
 * served windows from a prepared file, and what opening it costs.
 *   bench_windows DATA.h5 MAX_LENGTH STRIDE BATCH SECONDS [normal]
 * Opens the train split (timed: the O(1) start-up), then fills batches of BATCH windows
 * drawn by the shuffled sampler for SECONDS, cold cache first (a new epoch touches
 * pages never read) and reports key=value lines: open seconds, windows/s, tokens/s, the
 * peak RSS (KB) and the bytes the process holds for the data (ed_dataset_memory); and
 * what serving them cost: bytes read from disk (/proc/self/io read_bytes, so a cold page
 * cache — drop_caches — is what makes it mean anything) and the mapped file pages it left
 * in the resident set (RssFile growth), per window and per token served.
 * `normal` first resets the mappings to the kernel's default access pattern (MADV_NORMAL:
 * read-ahead and read-around on every fault), to show what the loader's advice saves. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "expert/dataset.h"
#include "expert/memstat.h"
#include "expert/prepared.h"

/* read_bytes of /proc/self/io: bytes this process caused to be read from storage. */
static long long read_bytes(void) {
    long long v = -1;
    char line[128];
    FILE *f = fopen("/proc/self/io", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "read_bytes: %lld", &v) == 1) break;
    if (f) fclose(f);
    return v;
}

int main(int argc, char **argv) {
    if (argc != 6 && !(argc == 7 && strcmp(argv[6], "normal") == 0)) {
        fprintf(stderr, "usage: bench_windows DATA.h5 MAX_LENGTH STRIDE BATCH SECONDS [normal]\n");
        return 2;
    }
    ed_window_options wo = {.max_length = atoi(argv[2]), .stride = atoi(argv[3])};
    int B = atoi(argv[4]);
    double secs = atof(argv[5]);
    ed_dataset ds;
    ed_error err;
    double t0 = ed_now();
    if (ed_dataset_load_prepared(&ds, argv[1], "train", &wo, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double t_open = ed_now() - t0;
    if (argc == 7)
        for (int i = 0; i < (int)(sizeof ds.map / sizeof ds.map[0]); i++)
            if (ds.map[i]) madvise(ds.map[i], ds.map_len[i], MADV_NORMAL);
    ed_mem_usage m0, m1;
    ed_mem_read(&m0);
    long long r0 = read_bytes();
    ed_sampler s;
    ed_sampler_init(&s, ds.n_windows, B, 1, 0, 1, 1234, 1);
    ed_batch b;
    ed_batch_init(&b, B, wo.max_length - 1);
    uint32_t *ids = malloc((size_t)B * sizeof *ids);
    long windows = 0, tokens = 0, steps = ed_sampler_steps(&s);
    t0 = ed_now();
    for (long step = 0; ed_now() - t0 < secs; step++) {
        if (step == steps) step = 0;
        int n = ed_sampler_micro(&s, step, 0, ids);
        if (ed_batch_fill(&b, &ds, ids, n, 0, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        windows += n;
        tokens += b.n_targets;
    }
    double t = ed_now() - t0;
    long long read = read_bytes() - r0;
    ed_mem_read(&m1);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double file_b = (m1.file - m0.file) * 1048576.0;
    printf("open_s=%.4f n_tokens=%zu n_windows=%zu windows_per_s=%.0f tokens_per_s=%.0f peak_rss_kb=%ld "
           "data_bytes=%zu mapped_bytes=%zu windows=%ld tokens=%ld read_bytes=%lld read_per_window=%.0f "
           "read_per_token=%.1f rss_file_per_window=%.0f\n",
           t_open, ds.n_tokens, ds.n_windows, windows / t, tokens / t, ru.ru_maxrss, ed_dataset_memory(&ds),
           ed_dataset_mapped(&ds), windows, tokens, read, windows ? (double)read / windows : 0.0,
           tokens ? (double)read / tokens : 0.0, windows ? file_b / windows : 0.0);
    free(ids);
    ed_batch_free(&b);
    ed_sampler_free(&s);
    ed_dataset_free(&ds);
    return 0;
}
