/* memstat.c — resident memory by kind from /proc/self/status (memstat.h). */
#include "expert/memstat.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

ed_mem_usage ed_mem_none(void) { return (ed_mem_usage){-1.0, -1.0, -1.0, -1.0}; }

/* /proc/self/status holds "VmHWM:\t  123456 kB" lines; one read of the whole file (about
 * 1.5 kB) is cheaper than stdio line by line. */
int ed_mem_read(ed_mem_usage *now) {
    *now = ed_mem_none();
    char buf[8192];
    size_t n = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    static const char *const keys[ED_MEM_FIELDS] = {"\nVmHWM:", "\nRssAnon:", "\nRssFile:", "\nRssShmem:"};
    double *field[ED_MEM_FIELDS] = {&now->hwm, &now->anon, &now->file, &now->shmem};
    int found = 0;
    for (int i = 0; i < ED_MEM_FIELDS; i++) {
        const char *p = strstr(buf, keys[i]);
        long kb;
        if (p && sscanf(p + strlen(keys[i]), " %ld", &kb) == 1) {
            *field[i] = kb / 1024.0;
            found++;
        }
    }
    if (found == ED_MEM_FIELDS) return 0;
    struct rusage ru;
    *now = ed_mem_none();
    if (getrusage(RUSAGE_SELF, &ru) == 0) now->hwm = ru.ru_maxrss / 1024.0;
    return -1;
}

void ed_mem_fold(ed_mem_usage *peak, const ed_mem_usage *seen) {
    if (seen->hwm > peak->hwm) peak->hwm = seen->hwm;
    if (seen->anon > peak->anon) peak->anon = seen->anon;
    if (seen->file > peak->file) peak->file = seen->file;
    if (seen->shmem > peak->shmem) peak->shmem = seen->shmem;
}

void ed_mem_sample(ed_mem_usage *peak) {
    ed_mem_usage now;
    ed_mem_read(&now);
    ed_mem_fold(peak, &now);
}

/* Field k of u, in the order of the struct (and of the report's lines). */
static double field(const ed_mem_usage *u, int k) {
    switch (k) {
    case 0: return u->hwm;
    case 1: return u->anon;
    case 2: return u->file;
    default: return u->shmem;
    }
}

void ed_mem_print(FILE *f, const ed_mem_usage *all, int world) {
    static const char *const what[ED_MEM_FIELDS] = {"memory", "private memory (RssAnon)",
                                                    "mapped file pages (RssFile)", "shared memory (RssShmem)"};
    for (int k = 0; k < ED_MEM_FIELDS; k++) {
        int any = 0; /* the shared-memory line only when some rank has some */
        for (int r = 0; r < world; r++) any |= field(&all[r], k) > 0.05;
        if (k == 3 && !any) continue;
        fprintf(f, "peak %s by rank (MB):", what[k]);
        for (int r = 0; r < world; r++) {
            double v = field(&all[r], k);
            if (v < 0) fprintf(f, " ?");
            else fprintf(f, " %.1f", v);
        }
        fprintf(f, "\n");
    }
}
