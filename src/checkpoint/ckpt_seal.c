/* ckpt_seal.c — a checksum over the whole checkpoint, checked before HDF5 parses it.
 *
 * Why: HDF5 1.10 trusts its metadata. A checkpoint with a few flipped bits can make the
 * library read wild pointers and crash (measured: about 4% of random bit flips in the
 * first kilobytes), and a reader that crashes cannot say what is wrong. So every file we
 * write starts with a 512-byte HDF5 user block (which HDF5, h5py and h5dump skip) holding
 * a readable header:
 *
 *     expert-dist checkpoint\n
 *     size <bytes of the whole file>\n
 *     hash <16 hex digits>\n            (of bytes [512, size))
 *
 * and every reader recomputes it first. A file without the header (written by another
 * tool) is read unverified; ED_CKPT_NO_VERIFY=1 skips the check for a checkpoint that
 * was deliberately edited in place (e.g. with h5py). */
#include "ckpt_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAGIC "expert-dist checkpoint\n"
#define K1 0x9e3779b97f4a7c15ULL
#define K2 0xbf58476d1ce4e5b9ULL

/* Four independent multiply-xorshift lanes over 8-byte words: every step is a bijection
 * of the lane state, so any change to any word changes the result, and the four chains
 * run in parallel (memory-bound, several GB/s). The hash is stored in every checkpoint,
 * so this function is part of the file format: not ed_hash_bytes, which may change. */
typedef struct {
    uint64_t lane[4];
    unsigned char tail[32];
    size_t ntail;
    uint64_t total;
} ckpt_hasher;

static void hash_init(ckpt_hasher *h) {
    for (int i = 0; i < 4; i++) h->lane[i] = K1 * (uint64_t)(i + 1);
    h->ntail = 0;
    h->total = 0;
}

static inline uint64_t mix(uint64_t s, uint64_t w) {
    s = (s ^ w) * K1;
    return s ^ (s >> 29);
}

static void hash_block(ckpt_hasher *h, const unsigned char *p) {
    uint64_t w[4];
    memcpy(w, p, 32); /* the file is little-endian data; hash the bytes as stored */
    for (int i = 0; i < 4; i++) h->lane[i] = mix(h->lane[i], w[i]);
}

static void hash_update(ckpt_hasher *h, const void *data, size_t n) {
    const unsigned char *p = data;
    h->total += n;
    if (h->ntail) {
        size_t take = 32 - h->ntail < n ? 32 - h->ntail : n;
        memcpy(h->tail + h->ntail, p, take);
        h->ntail += take;
        p += take;
        n -= take;
        if (h->ntail < 32) return;
        hash_block(h, h->tail);
        h->ntail = 0;
    }
    for (; n >= 32; p += 32, n -= 32) hash_block(h, p);
    memcpy(h->tail, p, n);
    h->ntail = n;
}

static uint64_t hash_final(ckpt_hasher *h) {
    memset(h->tail + h->ntail, 0, 32 - h->ntail);
    hash_block(h, h->tail);
    uint64_t x = h->total;
    for (int i = 0; i < 4; i++) x = mix(x, h->lane[i]) * K2;
    return x ^ (x >> 31);
}

void ckpt_seal_image(char *image, size_t size) {
    ckpt_hasher h;
    hash_init(&h);
    hash_update(&h, image + CKPT_USERBLOCK, size - CKPT_USERBLOCK);
    memset(image, 0, CKPT_USERBLOCK);
    snprintf(image, CKPT_USERBLOCK, MAGIC "size %zu\nhash %016" PRIx64 "\n", size, hash_final(&h));
}

/* Parses the header; 1 if present (size, hash filled), 0 if the file has none. */
static int parse_header(const char *hdr, size_t *size, uint64_t *hash) {
    if (strncmp(hdr, MAGIC, strlen(MAGIC)) != 0) return 0;
    unsigned long long s;
    char hex[17];
    if (sscanf(hdr + strlen(MAGIC), "size %llu\nhash %16[0-9a-f]\n", &s, hex) != 2 || strlen(hex) != 16) return -1;
    *size = (size_t)s;
    *hash = strtoull(hex, NULL, 16);
    return 1;
}

int ckpt_verify(const char *path, ed_error *err) {
    const char *skip = getenv("ED_CKPT_NO_VERIFY");
    if (skip && strcmp(skip, "1") == 0) return 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ed_fail(err, "%s: cannot open checkpoint: %s", path, strerror(errno));
    char hdr[CKPT_USERBLOCK + 1];
    size_t got = fread(hdr, 1, CKPT_USERBLOCK, f);
    hdr[got] = '\0';
    size_t want_size = 0;
    uint64_t want_hash = 0;
    int has = got == CKPT_USERBLOCK ? parse_header(hdr, &want_size, &want_hash) : 0;
    if (has == 0) {
        /* No header. A file another tool wrote has the HDF5 signature at byte 0 and is
         * read unverified. One with the signature after a 512-byte user block is ours
         * with a damaged header: rejecting it matters, because skipping the checksum
         * would hand possibly corrupted metadata to HDF5, which may crash on it. */
        static const char sig[8] = {'\211', 'H', 'D', 'F', '\r', '\n', '\032', '\n'};
        char at512[8];
        int ours = fseek(f, CKPT_USERBLOCK, SEEK_SET) == 0 && fread(at512, 1, 8, f) == 8 &&
                   memcmp(at512, sig, 8) == 0;
        if (ours && !(got >= 8 && memcmp(hdr, sig, 8) == 0)) has = -1;
    }
    if (has <= 0) {
        fclose(f);
        if (has < 0) return ed_fail(err, "%s: damaged checkpoint header (first 512 bytes)", path);
        return 0; /* not written by expert-dist: HDF5-level validation only */
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || (size_t)st.st_size != want_size) {
        fclose(f);
        return ed_fail(err, "%s: truncated or extended checkpoint: %lld bytes, the header says %zu (or edited "
                       "by another tool; ED_CKPT_NO_VERIFY=1 reads it anyway)", path, (long long)st.st_size, want_size);
    }
    ckpt_hasher h;
    hash_init(&h);
    size_t cap = (size_t)1 << 20;
    char *buf = ed_malloc(cap);
    size_t n;
    while ((n = fread(buf, 1, cap, f)) > 0) hash_update(&h, buf, n);
    int bad = ferror(f);
    free(buf);
    fclose(f);
    if (bad) return ed_fail(err, "%s: read error", path);
    if (hash_final(&h) != want_hash)
        return ed_fail(err, "%s: checksum mismatch: the file is corrupted (or was edited by another tool; "
                       "ED_CKPT_NO_VERIFY=1 reads it anyway)", path);
    return 0;
}

int ckpt_reseal(const char *path, ed_error *err) {
    char *data;
    size_t len;
    if (ed_read_file(path, &data, &len, err) < 0) return -1;
    if (len < CKPT_USERBLOCK || strncmp(data, MAGIC, strlen(MAGIC)) != 0) {
        free(data);
        return ed_fail(err, "%s: no expert-dist checkpoint header to reseal", path);
    }
    ckpt_seal_image(data, len);
    FILE *f = fopen(path, "r+b");
    int rc = f && fwrite(data, 1, CKPT_USERBLOCK, f) == CKPT_USERBLOCK ? 0 : -1;
    if (f && fclose(f) != 0) rc = -1;
    free(data);
    return rc < 0 ? ed_fail(err, "%s: cannot rewrite the header: %s", path, strerror(errno)) : 0;
}
