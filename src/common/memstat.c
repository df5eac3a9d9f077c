/* memstat.c — resident memory by kind from /proc/self/status (memstat.h). */
#include "expert/memstat.h"

#include <stddef.h>
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

static void print_line(FILE *f, const char *what, const ed_mem_usage *all, int world, size_t at) {
    fprintf(f, "peak %s by rank (MB):", what);
    for (int r = 0; r < world; r++) {
        double v = *(const double *)((const char *)&all[r] + at);
        if (v < 0) fprintf(f, " ?");
        else fprintf(f, " %.1f", v);
    }
    fprintf(f, "\n");
}

void ed_mem_print(FILE *f, const ed_mem_usage *all, int world) {
    print_line(f, "memory", all, world, offsetof(ed_mem_usage, hwm));
    int shm = 0;
    for (int r = 0; r < world; r++) shm |= all[r].shmem > 0.05;
    print_line(f, "private memory (RssAnon)", all, world, offsetof(ed_mem_usage, anon));
    print_line(f, "mapped file pages (RssFile)", all, world, offsetof(ed_mem_usage, file));
    if (shm) print_line(f, "shared memory (RssShmem)", all, world, offsetof(ed_mem_usage, shmem));
}
