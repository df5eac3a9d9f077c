/* docs.c — ed_docs_read: checks the file, strips a UTF-8 BOM and hands the bytes to the
 * reader of its format (docs_txt.c, docs_jsonl.c). Every failure is one line naming the
 * file (and line), so a user can go straight to the problem. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "ds_lines.h"

static int has_ext(const char *path, const char *ext) {
    size_t pl = strlen(path), el = strlen(ext);
    return pl > el && strcasecmp(path + pl - el, ext) == 0;
}

int ed_docs_read(const char *path, const ed_read_options *opt, ed_docs *docs, ed_error *err) {
    memset(docs, 0, sizeof *docs);
    struct stat st;
    if (stat(path, &st) != 0) return ed_fail(err, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return ed_fail(err, "%s: is a directory, expected a .txt or .jsonl file", path);
    ed_text_format fmt = opt ? opt->format : ED_FORMAT_AUTO; /* opt may be NULL for .txt */
    int jsonl = fmt == ED_FORMAT_JSONL || (fmt == ED_FORMAT_AUTO && has_ext(path, ".jsonl"));
    if (fmt == ED_FORMAT_AUTO && !jsonl && !has_ext(path, ".txt")) {
        const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
        if (!dot || (slash && dot < slash)) dot = "(none)";
        return ed_fail(err, "%s: unsupported file extension %s (supported: .txt, .jsonl; "
                       "--format txt or --format jsonl reads a file of any name)", path, dot);
    }
    char *data;
    size_t len;
    if (ed_read_file(path, &data, &len, err) != 0) return -1;
    if (len == 0) {
        free(data);
        return ed_fail(err, "%s: file is empty", path);
    }
    size_t base = len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    docs->path = ed_strdup(path);
    int rc = jsonl ? ds_read_jsonl(path, data + base, len - base, base, opt, docs, err)
                   : ds_read_txt(path, data + base, len - base, base, docs, err);
    free(data);
    if (rc == 0 && docs->n == 0) {
        if (docs->skipped)
            rc = ed_fail(err, "%s: no usable text (all %ld non-blank lines were bad and skipped)", path, docs->skipped);
        else
            rc = ed_fail(err, "%s: no usable text (only blank lines or empty documents)", path);
    }
    if (rc != 0) ed_docs_free(docs);
    return rc;
}

void ed_docs_free(ed_docs *docs) {
    for (size_t i = 0; i < docs->n; i++) free(docs->text[i]);
    free(docs->text);
    free(docs->len);
    free(docs->line);
    free(docs->path);
    memset(docs, 0, sizeof *docs);
}
