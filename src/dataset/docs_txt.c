/* docs_txt.c — .txt datasets: a document is a paragraph, i.e. a run of lines between
 * blank lines (whitespace-only lines count as blank). Lines keep their text; the line
 * breaks inside a paragraph become "\n" (a CR before them is dropped). */
#include <stdlib.h>
#include <string.h>

#include "ds_lines.h"

int ds_read_txt(const char *path, const char *data, size_t len, size_t base, ed_docs *docs, ed_error *err) {
    ds_lines it = {data, len, 0, 0};
    size_t cap = 0, plen = 0, pcap = 0, off, n;
    char *para = NULL;
    long pline = 0;
    const char *line;
    int rc = 0;
    while (ds_next_line(&it, &line, &n, &off)) {
        size_t bad = ds_utf8_bad(line, n);
        if (bad < n) {
            rc = ed_fail(err, "%s:%ld: invalid UTF-8 at byte offset %zu", path, it.lineno,
                         base + off + bad);
            break;
        }
        if (ds_is_blank(line, n)) {
            if (plen) ds_docs_push(docs, &cap, para, plen, pline);
            plen = 0;
            continue;
        }
        if (plen + n + 1 > pcap) {
            pcap = 2 * (plen + n + 1);
            para = ed_realloc(para, pcap);
        }
        if (plen) para[plen++] = '\n';
        else pline = it.lineno;
        memcpy(para + plen, line, n);
        plen += n;
    }
    if (rc == 0 && plen) ds_docs_push(docs, &cap, para, plen, pline);
    free(para);
    return rc;
}
