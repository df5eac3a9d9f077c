/* hash.c — ed_hash_bytes and ed_crc32c (contracts in include/expert/common.h). */
#include <string.h>

#include "expert/common.h"

/* 64-bit words through the mix, then the tail bytes: about 1 GB/s. */
uint64_t ed_hash_bytes(const void *p, size_t n) {
    const unsigned char *b = p;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = ed_hash_mix64(h ^ w) + 0x9e3779b97f4a7c15ULL;
    }
    uint64_t tail = 0;
    for (size_t k = 0; i < n; i++, k++) tail |= (uint64_t)b[i] << (8 * k);
    return ed_hash_mix64(h ^ tail);
}

/* Four bits at a time through a 16-entry table: the records it checks are a few hundred
 * bytes, so a smaller table beats a faster one. Entry i is i's CRC over 4 zero bits. */
uint32_t ed_crc32c(uint32_t crc, const void *p, size_t n) {
    static const uint32_t t[16] = {0x00000000, 0x105ec76f, 0x20bd8ede, 0x30e349b1, 0x417b1dbc, 0x5125dad3,
                                   0x61c69362, 0x7198540d, 0x82f63b78, 0x92a8fc17, 0xa24bb5a6, 0xb21572c9,
                                   0xc38d26c4, 0xd3d3e1ab, 0xe330a81a, 0xf36e6f75};
    const unsigned char *b = p;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= b[i];
        crc = (crc >> 4) ^ t[crc & 15];
        crc = (crc >> 4) ^ t[crc & 15];
    }
    return ~crc;
}
