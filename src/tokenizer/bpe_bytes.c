/* bpe_bytes.c — GPT-2's byte <-> unicode mapping, which makes every token printable.
 *
 * Bytes that are visible Latin-1 characters ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF)
 * stand for themselves; the other 68 bytes (controls, space, DEL, NBSP, soft hyphen) are
 * moved in byte order to U+0100..U+0143, so a space is 'Ġ' (U+0120) and a newline 'Ċ'.
 * Files written this way read the same as GPT-2's vocab.json/merges.txt, and a token
 * string never contains a real space, which is what lets a merge be written "a b". */
#include <string.h>

#include "bpe_internal.h"

static unsigned cp_of_byte(unsigned b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
    if (b <= 32) return 256 + b;
    if (b <= 160) return 256 + 33 + (b - 127);
    return 256 + 33 + 34; /* 173 */
}

static int byte_of_cp(unsigned cp) {
    if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 255)) return (int)cp;
    if (cp >= 256 && cp <= 288) return (int)(cp - 256);
    if (cp >= 289 && cp <= 322) return (int)(127 + cp - 289);
    if (cp == 323) return 173;
    return -1;
}

size_t bpe_bytes_to_str(const unsigned char *s, size_t n, char **buf, size_t *cap, size_t len) {
    if (len + 2 * n + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (len + 2 * n + 1 > c) c *= 2;
        *buf = ed_realloc(*buf, c);
        *cap = c;
    }
    char *o = *buf + len;
    for (size_t i = 0; i < n; i++) {
        unsigned cp = cp_of_byte(s[i]);
        if (cp < 0x80) {
            *o++ = (char)cp;
        } else {
            *o++ = (char)(0xC0 | (cp >> 6));
            *o++ = (char)(0x80 | (cp & 0x3F));
        }
    }
    *o = '\0';
    return (size_t)(o - *buf);
}

long bpe_str_to_bytes(const char *str, size_t len, unsigned char *out) {
    const unsigned char *s = (const unsigned char *)str;
    long n = 0;
    for (size_t i = 0; i < len;) {
        unsigned cp;
        if (s[i] < 0x80) {
            cp = s[i++];
        } else if ((s[i] & 0xE0) == 0xC0 && i + 1 < len && (s[i + 1] & 0xC0) == 0x80) {
            cp = (unsigned)(s[i] & 0x1F) << 6 | (s[i + 1] & 0x3F);
            i += 2;
            if (cp < 0x80) return -1; /* overlong */
        } else {
            return -1; /* 3- and 4-byte characters are never part of the mapping */
        }
        int b = byte_of_cp(cp);
        if (b < 0) return -1;
        out[n++] = (unsigned char)b;
    }
    return n;
}
