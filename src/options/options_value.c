/* options_value.c — one option's value from text and back: parsing with full range checks,
 * formatting that round-trips (floats with %.9g), the printed config and its JSON form. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expert/options.h"

/* Compares option names treating '_' as '-', so config files may use snake_case. */
static int name_eq(const char *spec, const char *name) {
    for (; *spec && *name; spec++, name++) {
        char c = *name == '_' ? '-' : *name;
        if (c != *spec) return 0;
    }
    return *spec == *name;
}

const ed_option_spec *ed_option_find(const char *name) {
    const ed_option_spec *t = ed_option_table(NULL);
    for (; t->name; t++)
        if (name_eq(t->name, name)) return t;
    return NULL;
}

static int parse_long(const char *v, long long lo, long long hi, long long *out) {
    if (!*v) return -1;
    errno = 0;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

int ed_parse_bool(const char *v, int *out) {
    static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) return *out = 1, 0;
        if (strcasecmp(v, no[i]) == 0) return *out = 0, 0;
    }
    return -1;
}

/* A choice field is an int-sized enum; the table's size column guards the cast. */
static int *choice_field(const ed_options *o, const ed_option_spec *s) {
    ED_CHECK(s->type == ED_OPT_CHOICE && s->choices && s->size == sizeof(int), "option '%s' is not an int-sized choice",
             s->name);
    return (int *)((char *)o + s->offset);
}

static const char *choice_name(const ed_options *o, const ed_option_spec *s) {
    int v = *choice_field(o, s);
    return v >= 0 && v < ed_names_count(s->choices) ? s->choices[v] : "(invalid)";
}

int ed_options_set(ed_options *o, const char *name, const char *value, ed_error *err) {
    const ed_option_spec *s = ed_option_find(name);
    if (!s) {
        const char *near = ed_option_suggest(name);
        if (near) return ed_fail(err, "unknown option '%s' (did you mean `%s`?)", name, near);
        return ed_fail(err, "unknown option '%s'", name);
    }
    if (strcmp(s->name, "preset") == 0) return ed_options_preset(o, value, err);
    char *field = (char *)o + s->offset;
    long long x;
    switch (s->type) {
    case ED_OPT_INT:
        if (parse_long(value, INT_MIN, INT_MAX, &x))
            return ed_fail(err, "option '%s': expected an integer, got '%s'", s->name, value);
        *(int *)field = (int)x;
        return 0;
    case ED_OPT_LONG:
        if (parse_long(value, LONG_MIN, LONG_MAX, &x))
            return ed_fail(err, "option '%s': expected an integer, got '%s'", s->name, value);
        *(long *)field = (long)x;
        return 0;
    case ED_OPT_SIZE:
        if (parse_long(value, 0, LLONG_MAX, &x))
            return ed_fail(err, "option '%s': expected a non-negative integer, got '%s'", s->name, value);
        *(size_t *)field = (size_t)x;
        return 0;
    case ED_OPT_U64: {
        errno = 0;
        char *end;
        if (!*value || *value == '-') return ed_fail(err, "option '%s': expected a non-negative integer, got '%s'", s->name, value);
        unsigned long long u = strtoull(value, &end, 10);
        if (errno || *end) return ed_fail(err, "option '%s': expected a non-negative integer, got '%s'", s->name, value);
        *(uint64_t *)field = (uint64_t)u;
        return 0;
    }
    case ED_OPT_FLOAT: {
        errno = 0;
        char *end;
        float f = strtof(value, &end);
        if (!*value || errno || *end || !isfinite(f))
            return ed_fail(err, "option '%s': expected a finite number, got '%s'", s->name, value);
        *(float *)field = f;
        return 0;
    }
    case ED_OPT_BOOL: {
        int b;
        if (ed_parse_bool(value, &b))
            return ed_fail(err, "option '%s': expected true/false (1/0, yes/no, on/off), got '%s'", s->name, value);
        *(int *)field = b;
        return 0;
    }
    case ED_OPT_STR:
        if (strlen(value) >= s->size)
            return ed_fail(err, "option '%s': value longer than %zu bytes", s->name, s->size - 1);
        memcpy(field, value, strlen(value) + 1);
        return 0;
    case ED_OPT_CHOICE: {
        int v = ed_name_index(s->choices, value);
        if (v < 0) {
            char names[256];
            ed_names_join(s->choices, names, sizeof names);
            return ed_fail(err, "%s must be %s (got '%.100s')", s->name, names, value);
        }
        *choice_field(o, s) = v;
        return 0;
    }
    }
    return ed_fail(err, "option '%s': unsupported type", s->name);
}

void ed_options_format(const ed_options *o, const ed_option_spec *s, char *buf, size_t len) {
    const char *field = (const char *)o + s->offset;
    switch (s->type) {
    case ED_OPT_INT: snprintf(buf, len, "%d", *(const int *)field); break;
    case ED_OPT_LONG: snprintf(buf, len, "%ld", *(const long *)field); break;
    case ED_OPT_SIZE: snprintf(buf, len, "%zu", *(const size_t *)field); break;
    case ED_OPT_U64: snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)field); break;
    case ED_OPT_FLOAT: {
        /* The shortest text that reads back as the same float: 0.002, not 0.00200000009. */
        float f = *(const float *)field;
        for (int prec = 6; prec <= 9; prec++) {
            snprintf(buf, len, "%.*g", prec, (double)f);
            if (strtof(buf, NULL) == f) break;
        }
        break;
    }
    case ED_OPT_BOOL: snprintf(buf, len, "%s", *(const int *)field ? "true" : "false"); break;
    case ED_OPT_STR: snprintf(buf, len, "%s", field); break;
    case ED_OPT_CHOICE: snprintf(buf, len, "%s", choice_name(o, s)); break;
    }
}

/* A value the config reader would not read back verbatim: whitespace at an edge, a
 * line break or control character, a leading quote, or a `;`/`#` it would take for a
 * comment. */
static int needs_quotes(const char *v) {
    size_t n = strlen(v);
    if (!n) return 0;
    if (v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t' || v[0] == '"' || v[0] == ';' ||
        v[0] == '#')
        return 1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || (v[i] == ';' && (v[i - 1] == ' ' || v[i - 1] == '\t'))) return 1;
    return 0;
}

void ed_options_print(const ed_options *o, FILE *f) {
    char buf[4200];
    for (const ed_option_spec *s = ed_option_table(NULL); s->name; s++) {
        ed_options_format(o, s, buf, sizeof buf);
        if (!needs_quotes(buf)) {
            fprintf(f, "%s = %s\n", s->name, buf);
            continue;
        }
        fprintf(f, "%s = \"", s->name);
        for (const char *p = buf; *p; p++) {
            switch (*p) {
            case '"': fputs("\\\"", f); break;
            case '\\': fputs("\\\\", f); break;
            case '\n': fputs("\\n", f); break;
            case '\t': fputs("\\t", f); break;
            case '\r': fputs("\\r", f); break;
            default: fputc(*p, f);
            }
        }
        fputs("\"\n", f);
    }
}

char *ed_options_to_json(const ed_options *o) {
    json_t *obj = json_object();
    for (const ed_option_spec *s = ed_option_table(NULL); s->name; s++) {
        const char *field = (const char *)o + s->offset;
        json_t *v = NULL;
        switch (s->type) {
        case ED_OPT_INT: v = json_integer(*(const int *)field); break;
        case ED_OPT_LONG: v = json_integer(*(const long *)field); break;
        case ED_OPT_SIZE: v = json_integer((json_int_t) * (const size_t *)field); break;
        case ED_OPT_U64: v = json_integer((json_int_t) * (const uint64_t *)field); break;
        case ED_OPT_FLOAT: {
            /* Through the shortest text so 5e-4 prints as 0.0005, not 0.00050000002374. */
            char buf[64];
            ed_options_format(o, s, buf, sizeof buf);
            v = json_real(strtod(buf, NULL));
            break;
        }
        case ED_OPT_BOOL: v = json_boolean(*(const int *)field); break;
        case ED_OPT_STR: v = json_string(field); break;
        case ED_OPT_CHOICE: v = json_string(choice_name(o, s)); break;
        }
        json_object_set_new(obj, s->name, v ? v : json_null());
    }
    char *text = json_dumps(obj, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(obj);
    ED_CHECK(text, "cannot serialize the config to JSON");
    char *copy = ed_strdup(text); /* jansson's allocator may differ from free() users expect */
    free(text);
    return copy;
}

static const char *arg_of(const ed_option_spec *s) {
    return s->type == ED_OPT_BOOL                                 ? ""
           : s->type == ED_OPT_STR || s->type == ED_OPT_CHOICE ? " S"
           : s->type == ED_OPT_FLOAT                           ? " X"
                                                               : " N";
}

/* The groups in the order they first appear in the table: each once, whatever the row
 * order (a row may sit apart from its group's others). */
static int group_list(const char **groups, int max) {
    int n = 0;
    for (const ed_option_spec *s = ed_option_table(NULL); s->name; s++) {
        int seen = 0;
        for (int i = 0; i < n; i++) seen |= strcmp(groups[i], s->group) == 0;
        if (!seen && n < max) groups[n++] = s->group;
    }
    return n;
}

void ed_options_help(FILE *f, ed_command cmd) {
    ed_options d;
    ed_options_defaults(&d);
    ed_error err;
    ed_options_preset(&d, "tiny", &err);
    char buf[96], def[4200], names[256];
    const char *groups[16];
    int ng = group_list(groups, 16);
    for (int g = 0; g < ng; g++) {
        int header = 0;
        for (const ed_option_spec *s = ed_option_table(NULL); s->name; s++) {
            if (!(s->commands & cmd) || strcmp(s->group, groups[g]) != 0) continue;
            if (!header++) fprintf(f, "\n%s options:\n", s->group);
            if (s->short_name)
                snprintf(buf, sizeof buf, "  -%c, --%s%s", s->short_name, s->name, arg_of(s));
            else
                snprintf(buf, sizeof buf, "      --%s%s", s->name, arg_of(s));
            ed_options_format(&d, s, def, sizeof def);
            fprintf(f, "%-34s %s", buf, s->help);
            if (s->type == ED_OPT_CHOICE) {
                ed_names_join(s->choices, names, sizeof names);
                fprintf(f, " (%s)", names);
            }
            if (def[0] && strcmp(s->name, "prompt") != 0) fprintf(f, " [%s]", def);
            fputc('\n', f);
        }
    }
}

/* A default as the docs write it: on/off for booleans, `text` for words, nothing for "". */
static void doc_value(const ed_options *o, const ed_option_spec *s, char *buf, size_t len) {
    char v[4200] = "";
    ed_options_format(o, s, v, sizeof v);
    if (s->type == ED_OPT_BOOL) snprintf(buf, len, "%s", strcmp(v, "true") == 0 ? "on" : "off");
    else if (!v[0]) buf[0] = '\0';
    else if (s->type == ED_OPT_STR || s->type == ED_OPT_CHOICE) snprintf(buf, len, "`%.200s`", v);
    else snprintf(buf, len, "%.200s", v);
}

void ed_options_help_markdown(FILE *f) {
    static const char *const presets[] = {"tiny", "small", "seed"};
    static const char *const commands[] = {"train", "eval", "generate", "inspect", "prepare", "import", "export",
                                           "verify", "calibrate"};
    ed_options p[3];
    ed_error err;
    for (int i = 0; i < 3; i++) ed_options_defaults(&p[i]), ed_options_preset(&p[i], presets[i], &err);
    fprintf(f, "| option | commands | default (tiny preset; others where they differ) | meaning |\n"
               "|---|---|---|---|\n");
    const char *groups[16];
    int ng = group_list(groups, 16);
    char opt[128], cmds[128], def[1024], v[256] = "", names[256];
    for (int g = 0; g < ng; g++) {
        fprintf(f, "| **%s** | | | |\n", groups[g]);
        for (const ed_option_spec *s = ed_option_table(NULL); s->name; s++) {
            if (strcmp(s->group, groups[g]) != 0) continue;
            if (s->short_name) snprintf(opt, sizeof opt, "`-%c, --%s%s`", s->short_name, s->name, arg_of(s));
            else snprintf(opt, sizeof opt, "`--%s%s`", s->name, arg_of(s));
            cmds[0] = '\0';
            for (int c = 0; c < (int)(sizeof commands / sizeof *commands); c++)
                if (s->commands & (1u << c))
                    snprintf(cmds + strlen(cmds), sizeof cmds - strlen(cmds), "%s%s", cmds[0] ? ", " : "", commands[c]);
            doc_value(&p[0], s, def, sizeof def);
            for (int i = 1; i < 3; i++) { /* "(small 256, seed 512)": the presets that differ */
                doc_value(&p[i], s, v, sizeof v);
                char tiny[256];
                doc_value(&p[0], s, tiny, sizeof tiny);
                if (strcmp(v, tiny) == 0 || strcmp(s->name, "preset") == 0) continue;
                size_t l = strlen(def);
                int first = strchr(def, '(') == NULL;
                if (!first) def[--l] = '\0'; /* reopen the parenthesis */
                snprintf(def + l, sizeof def - l, "%s%s %s)", first ? " (" : ", ", presets[i], v);
            }
            if (strcmp(s->name, "prompt") == 0) def[0] = '\0';
            fprintf(f, "| %s | %s | %s | ", opt, cmds, def);
            for (const char *c = s->help; *c; c++) /* a | inside a cell ends it */
                fputs(*c == '|' ? "\\|" : (char[]){*c, 0}, f);
            if (s->type == ED_OPT_CHOICE) {
                ed_names_join(s->choices, names, sizeof names);
                fprintf(f, " (%s)", names);
            }
            fprintf(f, " |\n");
        }
    }
}
