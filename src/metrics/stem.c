/* stem.c — the Porter stemmer for ROUGE's optional stemming: Snowball's "porter"
 * algorithm from libstemmer (Debian's libstemmer-dev). */
#include <libstemmer.h>
#include <stdlib.h>

#include "expert/common.h"
#include "metrics_internal.h"

struct ed_stemmer {
    struct sb_stemmer *sb;
};

ed_stemmer *ed_stemmer_new(void) {
    ed_stemmer *s = ed_malloc(sizeof *s);
    s->sb = sb_stemmer_new("porter", "UTF_8");
    ED_CHECK(s->sb, "libstemmer: no \"porter\" stemmer (or out of memory)");
    return s;
}

void ed_stemmer_free(ed_stemmer *s) {
    if (!s) return;
    sb_stemmer_delete(s->sb);
    free(s);
}

const char *ed_stemmer_stem(ed_stemmer *s, const char *word, size_t *len) {
    const sb_symbol *r = sb_stemmer_stem(s->sb, (const sb_symbol *)word, (int)*len);
    ED_CHECK(r, "libstemmer: out of memory");
    *len = (size_t)sb_stemmer_length(s->sb);
    return (const char *)r;
}
