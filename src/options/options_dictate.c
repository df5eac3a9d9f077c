/* options_dictate.c — what a checkpoint decides for the command that opens it (the
 * options table's ckpt column), and which of the user's own settings that overrules:
 * the one reader of that column for resume, eval and generate (options.h). */
#include <string.h>

#include "expert/options.h"

/* The values the checkpoint's preset sets, for every row the user did not set: a resumed
 * small model keeps small's epochs and eval-interval even when the command line names no
 * preset (or another one). A preset this version does not know (an imported model has
 * none) leaves the values as they are. */
static void rebase_preset(ed_options *o, const char *name) {
    ed_options p = *o;
    ed_error e;
    if (!name[0] || ed_options_preset(&p, name, &e) != 0) return;
    size_t n = 0;
    const ed_option_spec *tab = ed_option_table(&n);
    for (size_t i = 0; i < n; i++)
        if (!o->given[i]) memcpy((char *)o + tab[i].offset, (const char *)&p + tab[i].offset, tab[i].size);
}

/* Appends to buf (of len) without overflowing; marks a cut with "...". */
static void append(char *buf, size_t len, const char *sep, const char *a, const char *b) {
    size_t used = strlen(buf);
    if (used + 4 >= len) return;
    int k = snprintf(buf + used, len - used, "%s%s%s", used ? sep : "", a, b);
    if (k < 0 || (size_t)k >= len - used) strcpy(buf + len - 4, "...");
}

void ed_options_dictate(ed_options *o, const ed_options *stored, ed_command cmd, ed_dictated *out) {
    memset(out, 0, sizeof *out);
    rebase_preset(o, stored->preset);
    size_t n = 0;
    const ed_option_spec *tab = ed_option_table(&n);
    char mine[300], theirs[300];
    for (size_t i = 0; i < n; i++) {
        const ed_option_spec *s = &tab[i];
        if (!(s->ckpt & cmd)) continue;
        ed_options_format(o, s, mine, sizeof mine);
        ed_options_format(stored, s, theirs, sizeof theirs);
        if (o->given[i] && strcmp(mine, theirs) != 0) {
            char word[320];
            if (s->type == ED_OPT_BOOL)
                snprintf(word, sizeof word, "--%s%s", strcmp(mine, "true") == 0 ? "" : "no-", s->name);
            else
                snprintf(word, sizeof word, "--%s %s", s->name, mine);
            append(out->user, sizeof out->user, " ", word, "");
            append(out->stored, sizeof out->stored, ", ", s->name, "");
            append(out->stored, sizeof out->stored, " ", theirs, "");
            out->n++;
            if (o->given[i] & ED_GIVEN_FLAG) out->n_flags++;
        }
        memcpy((char *)o + s->offset, (const char *)stored + s->offset, s->size);
    }
    o->model = stored->model; /* the /model group: the shape the weights have */
}

int ed_options_check_applicable(const ed_options *o, ed_command cmd, const char *name, ed_error *err) {
    size_t n = 0;
    const ed_option_spec *tab = ed_option_table(&n);
    char list[512] = "";
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(o->given[i] & ED_GIVEN_FLAG) || (tab[i].commands & cmd)) continue;
        append(list, sizeof list, " ", "--", tab[i].name);
        count++;
    }
    if (!count) return 0;
    return ed_fail(err, "%s does not use %s %s (expert-dist %s --help lists what it does)", name,
                   count == 1 ? "option" : "options", list, name);
}
