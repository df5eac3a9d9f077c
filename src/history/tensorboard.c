/* tensorboard.c — TensorBoard event files (include/expert/tensorboard.h): TFRecord
 * framing around Event protobufs packed by protobuf-c from tb_event.proto. */
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "expert/options.h"
#include "expert/tensorboard.h"
#include "history_internal.h"
#include "tb_event.pb-c.h"

#define EVENTS_PREFIX "events.out.tfevents."

typedef struct {
    char *tag;
    long step;
} kept_text;

struct ed_tb {
    int fd; /* -1 once a write failed; plain write(2)s: nothing is buffered in the process,
             * so a record is in the file (for a live TensorBoard) as soon as it is written,
             * and a failed write leaves no buffered rest for a later flush to append */
    char path[ED_PATH_MAX + 320];
    long good;        /* bytes of whole records: a failed write is cut back to it */
    kept_text *texts; /* text summaries kept from earlier runs (ed_tb_has_text) */
    size_t n_texts;
};

/* The one warning of a writer's life: TensorBoard logging ends here, the run goes on. */
static void warn(const char *msg) {
    fprintf(stderr, "warning: --tensorboard: %s; TensorBoard logging stops (the run and its checkpoints go on)\n", msg);
}

static void warn_errno(const char *path, const char *what, int e) {
    char msg[ED_PATH_MAX + 512];
    snprintf(msg, sizeof msg, "%s: %s: %s", path, what, strerror(e));
    warn(msg);
}

static double wall_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* TFRecord's masked CRC: a CRC of data that itself holds CRCs stays a good checksum. */
static uint32_t masked_crc(const void *p, size_t n) {
    uint32_t c = ed_crc32c(0, p, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

static void put_le(unsigned char *b, uint64_t x, int bytes) {
    for (int i = 0; i < bytes; i++) b[i] = (unsigned char)(x >> (8 * i));
}

static uint64_t get_le(const unsigned char *b, int bytes) {
    uint64_t x = 0;
    for (int i = 0; i < bytes; i++) x |= (uint64_t)b[i] << (8 * i);
    return x;
}

static int write_all(int fd, const unsigned char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = ENOSPC;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One record. The first failure cuts the file back to its last whole record, warns once
 * and stops the writer. */
static void put_event(ed_tb *tb, const Edtb__Event *ev) {
    if (!tb || tb->fd < 0) return;
    size_t n = edtb__event__get_packed_size(ev);
    unsigned char *rec = ed_malloc(n + 16);
    put_le(rec, n, 8);
    put_le(rec + 8, masked_crc(rec, 8), 4);
    edtb__event__pack(ev, rec + 12);
    put_le(rec + 12 + n, masked_crc(rec + 12, n), 4);
    int ok = write_all(tb->fd, rec, n + 16) == 0;
    int e = errno;
    free(rec);
    if (ok) {
        tb->good += (long)(n + 16);
        return;
    }
    warn_errno(tb->path, "cannot write", e);
    /* Best effort: if even this fails, the torn record stays last and readers stop at it. */
    int cut = ftruncate(tb->fd, tb->good);
    (void)cut;
    close(tb->fd);
    tb->fd = -1;
}

/* ---- cutting the files of earlier runs ------------------------------------------------ */

static void keep_text(ed_tb *tb, const char *tag, long step) {
    tb->texts = ed_realloc(tb->texts, (tb->n_texts + 1) * sizeof *tb->texts);
    tb->texts[tb->n_texts].tag = ed_strdup(tag);
    tb->texts[tb->n_texts++].step = step;
}

/* Keeps the records of path up to the first one that is torn, damaged or later than
 * `last`; removes the file when no summary is left. */
static int cut_file(ed_tb *tb, const char *path, long last) {
    char *data;
    size_t len;
    ed_error err;
    if (ed_read_file(path, &data, &len, &err) != 0) {
        warn(err.msg);
        return -1;
    }
    const unsigned char *b = (const unsigned char *)data;
    size_t pos = 0, summaries = 0;
    while (pos + 12 <= len) {
        uint64_t n = get_le(b + pos, 8);
        if ((uint32_t)get_le(b + pos + 8, 4) != masked_crc(b + pos, 8) || n > len - pos - 12 || len - pos - 12 - n < 4 ||
            (uint32_t)get_le(b + pos + 12 + n, 4) != masked_crc(b + pos + 12, n))
            break;
        Edtb__Event *ev = edtb__event__unpack(NULL, n, b + pos + 12);
        if (!ev) break;
        int later = ev->what_case == EDTB__EVENT__WHAT_SUMMARY && ev->step > last;
        if (!later && ev->what_case == EDTB__EVENT__WHAT_SUMMARY) {
            summaries++;
            for (size_t i = 0; i < ev->summary->n_value; i++)
                if (ev->summary->value[i]->value_case == EDTB__VALUE__VALUE_TENSOR)
                    keep_text(tb, ev->summary->value[i]->tag, (long)ev->step);
        }
        edtb__event__free_unpacked(ev, NULL);
        if (later) break;
        pos += 12 + n + 4;
    }
    free(data);
    int rc = 0;
    if (summaries == 0)
        rc = unlink(path);
    else if (pos < len)
        rc = truncate(path, (off_t)pos);
    if (rc != 0) warn_errno(path, summaries ? "cannot cut back to the resumed step" : "cannot remove", errno);
    return rc;
}

static int cut_earlier(ed_tb *tb, const char *dir, long last) {
    DIR *d = opendir(dir);
    if (!d) {
        warn_errno(dir, "cannot list", errno);
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, EVENTS_PREFIX, strlen(EVENTS_PREFIX)) != 0) continue;
        char path[ED_PATH_MAX + 320];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) rc = cut_file(tb, path, last);
    }
    closedir(d);
    return rc;
}

ed_tb *ed_tb_open(const char *dir, long resume_step) {
    ed_error err;
    if (ed_make_dirs(dir, &err) != 0) {
        warn(err.msg);
        return NULL;
    }
    ed_tb *tb = ed_calloc(1, sizeof *tb);
    tb->fd = -1;
    if (cut_earlier(tb, dir, resume_step) != 0) {
        ed_tb_close(tb);
        return NULL;
    }
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    /* TensorBoard reads a directory's files in name order: a new name never sorts before
     * an earlier run's (the same second twice: the next one). */
    time_t now = time(NULL);
    for (int k = 0; k < 100 && tb->fd < 0; k++) {
        snprintf(tb->path, sizeof tb->path, "%s/" EVENTS_PREFIX "%lld.%s", dir, (long long)now + k, host);
        tb->fd = open(tb->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (tb->fd < 0 && errno != EEXIST) break;
    }
    if (tb->fd < 0) {
        warn_errno(tb->path, "cannot create", errno);
        ed_tb_close(tb);
        return NULL;
    }
    Edtb__Event ev = EDTB__EVENT__INIT;
    ev.wall_time = wall_time();
    ev.what_case = EDTB__EVENT__WHAT_FILE_VERSION;
    ev.file_version = "brain.Event:2";
    put_event(tb, &ev);
    if (tb->fd < 0) {
        ed_tb_close(tb);
        return NULL;
    }
    return tb;
}

void ed_tb_close(ed_tb *tb) {
    if (!tb) return;
    if (tb->fd >= 0) close(tb->fd);
    for (size_t i = 0; i < tb->n_texts; i++) free(tb->texts[i].tag);
    free(tb->texts);
    free(tb);
}

void ed_tb_scalars(ed_tb *tb, const ed_row *r) {
    if (!tb || tb->fd < 0) return;
    Edtb__Value vals[ED_HISTORY_MAX_COLUMNS], *pv[ED_HISTORY_MAX_COLUMNS];
    size_t n = 0;
    for (size_t i = 0; i < ed_ncolumns; i++) {
        const ed_column *c = &ed_columns[i];
        double x = ed_row_value(r, c);
        if (c->kind != r->kind || !c->tb || !isfinite(x)) continue;
        edtb__value__init(&vals[n]);
        vals[n].tag = (char *)c->tb;
        vals[n].value_case = EDTB__VALUE__VALUE_SIMPLE_VALUE;
        vals[n].simple_value = (float)x;
        pv[n] = &vals[n];
        n++;
    }
    if (n == 0) return;
    Edtb__Summary sum = EDTB__SUMMARY__INIT;
    sum.n_value = n;
    sum.value = pv;
    Edtb__Event ev = EDTB__EVENT__INIT;
    ev.wall_time = wall_time();
    ev.step = (int64_t)r->step;
    ev.what_case = EDTB__EVENT__WHAT_SUMMARY;
    ev.summary = &sum;
    put_event(tb, &ev);
}

/* text as a markdown code block: every line indented by four spaces, so TensorBoard shows
 * it verbatim (a '#' of config.ini stays a comment, not a heading). malloc'ed. */
static char *code_block(const char *text) {
    size_t n = strlen(text), lines = 1;
    for (size_t i = 0; i < n; i++) lines += text[i] == '\n';
    char *md = ed_malloc(n + 4 * lines + 1), *p = md;
    for (const char *s = text; *s;) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) + 1 : strlen(s);
        memcpy(p, "    ", 4);
        memcpy(p + 4, s, len);
        p += 4 + len;
        s += len;
    }
    *p = '\0';
    return md;
}

void ed_tb_text(ed_tb *tb, const char *tag, long step, const char *text) {
    if (!tb || tb->fd < 0) return;
    char *md = code_block(text);
    Edtb__PluginData plugin = EDTB__PLUGIN_DATA__INIT;
    plugin.plugin_name = "text";
    Edtb__SummaryMetadata meta = EDTB__SUMMARY_METADATA__INIT;
    meta.plugin_data = &plugin;
    meta.data_class = EDTB__DATA_CLASS__DATA_CLASS_TENSOR;
    ProtobufCBinaryData s = {strlen(md), (uint8_t *)md};
    Edtb__TensorProto tensor = EDTB__TENSOR_PROTO__INIT;
    tensor.dtype = EDTB__DATA_TYPE__DT_STRING;
    tensor.n_string_val = 1;
    tensor.string_val = &s;
    Edtb__Value v = EDTB__VALUE__INIT, *pv = &v;
    v.tag = (char *)tag;
    v.metadata = &meta;
    v.value_case = EDTB__VALUE__VALUE_TENSOR;
    v.tensor = &tensor;
    Edtb__Summary sum = EDTB__SUMMARY__INIT;
    sum.n_value = 1;
    sum.value = &pv;
    Edtb__Event ev = EDTB__EVENT__INIT;
    ev.wall_time = wall_time();
    ev.step = step;
    ev.what_case = EDTB__EVENT__WHAT_SUMMARY;
    ev.summary = &sum;
    put_event(tb, &ev);
    free(md);
}

int ed_tb_has_text(const ed_tb *tb, const char *tag, long step) {
    for (size_t i = 0; tb && i < tb->n_texts; i++)
        if (tb->texts[i].step == step && strcmp(tb->texts[i].tag, tag) == 0) return 1;
    return 0;
}

const char *ed_tb_path(const ed_tb *tb) { return tb ? tb->path : ""; }
