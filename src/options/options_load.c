/* options_load.c — where option values come from: INI config files and argv,
 * combined with the precedence defaults < preset < config file < flags. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "expert/options.h"

/* ---- INI --------------------------------------------------------------------------- */

typedef struct {
    ed_options *o;
    int skip_preset; /* the preset was already applied by the caller */
    char preset[16]; /* collect mode: the file's preset, if any */
    int collect;     /* only look for the preset, set nothing */
    ed_error err;
    int failed;
} ini_ctx;

/* One `key = value` ([sections] are allowed for readability; keys are global). 0 on a bad
 * value, with c->err. */
static int on_ini_key(ini_ctx *c, const char *name, const char *value) {
    if (c->failed) return 0;
    int is_preset = strcmp(name, "preset") == 0;
    if (c->collect) {
        if (is_preset) snprintf(c->preset, sizeof c->preset, "%s", value);
        return 1;
    }
    if (is_preset && c->skip_preset) return 1;
    if (ed_options_set(c->o, name, value, &c->err) != 0) {
        c->failed = 1;
        return 0;
    }
    c->o->given[ed_option_index(ed_option_find(name))] |= ED_GIVEN_CONFIG;
    return 1;
}

/* The config format, read here and written by ed_options_print (options.h): `key = value`
 * lines of any length. Returns 0, or -1 with err at file:line. */
static int unquote(char *v, const char **end_msg) {
    /* "..." with \" \\ \n \t \r: in place */
    char *w = v, *r = v + 1;
    for (; *r && *r != '"'; r++) {
        if (*r != '\\') {
            *w++ = *r;
            continue;
        }
        r++;
        switch (*r) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case 'n': *w++ = '\n'; break;
        case 't': *w++ = '\t'; break;
        case 'r': *w++ = '\r'; break;
        default: *end_msg = "unknown escape in a quoted value (\\\" \\\\ \\n \\t \\r)"; return -1;
        }
    }
    if (*r != '"') return *end_msg = "unterminated quoted value", -1;
    for (r++; *r == ' ' || *r == '\t'; r++) {
    }
    if (*r && *r != ';' && *r != '#') return *end_msg = "text after a quoted value", -1;
    *w = '\0';
    return 0;
}

static char *strip(char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\r') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) *--e = '\0';
    return s;
}

static int parse_ini(ini_ctx *c, const char *path, char *text, ed_error *err) {
    long line = 0;
    for (char *next = text; next;) {
        char *s = next;
        line++;
        char *nl = strchr(s, '\n');
        if (nl) *nl = '\0';
        next = nl ? nl + 1 : NULL;
        if (line == 1 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB && (unsigned char)s[2] == 0xBF)
            s += 3; /* a UTF-8 byte-order mark */
        s = strip(s);
        if (!*s || *s == ';' || *s == '#') continue;
        if (*s == '[') {
            if (!strchr(s, ']')) return ed_fail(err, "%s:%ld: syntax error (a [section] without ']')", path, line);
            continue;
        }
        char *eq = strpbrk(s, "=:");
        if (!eq) return ed_fail(err, "%s:%ld: syntax error (expected `key = value`)", path, line);
        *eq = '\0';
        char *key = strip(s), *value = strip(eq + 1);
        const char *why = NULL;
        if (*value == '"') {
            if (unquote(value, &why) != 0) return ed_fail(err, "%s:%ld: %s", path, line, why);
        } else {
            /* a comment after the value: ` ;` (or a value that is only a comment) */
            for (char *p = value; *p; p++)
                if (*p == ';' && (p == value || p[-1] == ' ' || p[-1] == '\t')) {
                    *p = '\0';
                    value = strip(value);
                    break;
                }
        }
        if (!*key) return ed_fail(err, "%s:%ld: syntax error (no key before '=')", path, line);
        if (!on_ini_key(c, key, value)) return ed_fail(err, "%s:%ld: %s", path, line, c->err.msg);
    }
    return 0;
}

static int load_ini(ini_ctx *c, const char *path, ed_error *err) {
    /* A directory, a device (/dev/zero would never end) or a binary file each get their
     * own message. */
    struct stat st;
    if (stat(path, &st) != 0) return ed_fail(err, "%s: cannot open config file: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return ed_fail(err, "%s: is a directory, expected a config file", path);
    if (!S_ISREG(st.st_mode)) return ed_fail(err, "%s: not a regular file, expected a config file", path);
    char *text;
    size_t len;
    if (ed_read_file(path, &text, &len, err) != 0) return -1;
    long line = 1;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k < 1 || cp == 0 || (cp < 0x20 && cp != '\n' && cp != '\t' && cp != '\r')) {
            free(text);
            return ed_fail(err, "%s:%ld: not a text config file (%s at byte offset %zu)", path, line,
                           k < 1 ? "invalid UTF-8" : cp == 0 ? "a NUL byte" : "a control character", i);
        }
        line += cp == '\n';
        i += (size_t)k;
    }
    int rc = parse_ini(c, path, text, err);
    free(text);
    return rc;
}

int ed_options_load_ini(ed_options *o, const char *path, ed_error *err) {
    ini_ctx c = {.o = o};
    return load_ini(&c, path, err);
}

/* ---- argv -------------------------------------------------------------------------- */

void ed_args_free(ed_args *a) {
    free(a->positional);
    a->positional = NULL;
    a->n_positional = 0;
}

typedef struct {
    const char *name; /* canonical option name, or "config" */
    const char *value;
} flag_kv;

/* Splits argv into (name, value) pairs and positionals without applying anything, so the
 * preset and config file can be applied first whatever the order on the command line. */
static int scan_argv(int argc, char **argv, flag_kv *kv, int *nkv, ed_args *a, ed_error *err) {
    int only_pos = 0;
    *nkv = 0;
    for (int i = 0; i < argc; i++) {
        char *arg = argv[i];
        if (only_pos || arg[0] != '-' || arg[1] == '\0') {
            a->positional[a->n_positional++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_pos = 1;
            continue;
        }
        const ed_option_spec *s = NULL;
        const char *value = NULL, *shown = arg;
        char name[96];
        if (arg[1] == '-') { /* --name, --name=value, --no-name */
            const char *eq = strchr(arg + 2, '=');
            size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
            if (len >= sizeof name) return ed_fail(err, "unknown option '%.60s...'", arg);
            memcpy(name, arg + 2, len);
            name[len] = '\0';
            if (eq) value = eq + 1;
            if (strcmp(name, "help") == 0 && !eq) { a->help = 1; continue; }
            if (strcmp(name, "help-markdown") == 0 && !eq) { a->help_markdown = 1; continue; }
            if (strcmp(name, "version") == 0 && !eq) { a->version = 1; continue; }
            if (strcmp(name, "config") == 0) {
                if (!value) {
                    if (i + 1 >= argc) return ed_fail(err, "option '--config' needs a value");
                    value = argv[++i];
                }
                kv[(*nkv)++] = (flag_kv){"config", value};
                continue;
            }
            s = ed_option_find(name);
            if (!s && strncmp(name, "no-", 3) == 0) {
                const ed_option_spec *b = ed_option_find(name + 3);
                if (b && b->type == ED_OPT_BOOL && !eq) {
                    kv[(*nkv)++] = (flag_kv){b->name, "false"};
                    continue;
                }
            }
            if (!s) {
                const char *near = ed_option_suggest(name);
                if (near) return ed_fail(err, "unknown option '--%s': did you mean --%s?", name, near);
                return ed_fail(err, "unknown option '--%s' (see --help)", name);
            }
        } else { /* -x value, -xvalue */
            char c = arg[1];
            if (c == 'h' && !arg[2]) { a->help = 1; continue; }
            if (c == 'V' && !arg[2]) { a->version = 1; continue; }
            if (c == 'c') {
                value = arg[2] ? arg + 2 : (i + 1 < argc ? argv[++i] : NULL);
                if (!value) return ed_fail(err, "option '-c' needs a value");
                kv[(*nkv)++] = (flag_kv){"config", value};
                continue;
            }
            for (const ed_option_spec *t = ed_option_table(NULL); t->name; t++)
                if (t->short_name == c) s = t;
            if (!s) return ed_fail(err, "unknown option '-%c' (see --help)", c);
            if (arg[2]) value = arg + 2;
        }
        if (!value) {
            int b;
            if (s->type == ED_OPT_BOOL && i + 1 < argc && ed_parse_bool(argv[i + 1], &b) == 0) {
                value = argv[++i]; /* `--pack 1`, `--pack false`: the value as a separate word */
            } else if (s->type == ED_OPT_BOOL) {
                value = "true";
            } else {
                if (i + 1 >= argc) return ed_fail(err, "option '%s' needs a value", shown);
                value = argv[++i];
            }
        }
        kv[(*nkv)++] = (flag_kv){s->name, value};
    }
    return 0;
}

int ed_options_parse_argv(ed_options *o, int argc, char **argv, ed_args *a, ed_error *err) {
    memset(a, 0, sizeof *a);
    a->positional = ed_calloc((size_t)argc + 1, sizeof(char *));
    flag_kv *kv = ed_calloc((size_t)argc + 1, sizeof *kv);
    int nkv = 0, rc = -1;
    if (scan_argv(argc, argv, kv, &nkv, a, err) != 0) goto out;

    const char *flag_preset = NULL;
    for (int i = 0; i < nkv; i++) {
        if (strcmp(kv[i].name, "config") == 0) {
            if (strlen(kv[i].value) >= sizeof a->config) {
                ed_fail(err, "option '--config': path too long");
                goto out;
            }
            snprintf(a->config, sizeof a->config, "%s", kv[i].value);
        }
        if (strcmp(kv[i].name, "preset") == 0) flag_preset = kv[i].value;
    }

    ed_options_defaults(o);
    ini_ctx c = {.o = o, .collect = 1};
    if (a->config[0] && load_ini(&c, a->config, err) != 0) goto out;
    const char *preset = flag_preset ? flag_preset : c.preset[0] ? c.preset : "tiny";
    if (ed_options_preset(o, preset, err) != 0) {
        if (!flag_preset && c.preset[0]) {
            ed_error e = *err;
            ed_fail(err, "%s: %s", a->config, e.msg);
        }
        goto out;
    }
    if (a->config[0]) {
        ini_ctx c2 = {.o = o, .skip_preset = 1};
        if (load_ini(&c2, a->config, err) != 0) goto out;
    }
    size_t preset_row = ed_option_index(ed_option_find("preset"));
    if (c.preset[0]) o->given[preset_row] |= ED_GIVEN_CONFIG;
    if (flag_preset) o->given[preset_row] |= ED_GIVEN_FLAG;
    for (int i = 0; i < nkv; i++) {
        if (strcmp(kv[i].name, "config") == 0 || strcmp(kv[i].name, "preset") == 0) continue;
        if (ed_options_set(o, kv[i].name, kv[i].value, err) != 0) goto out;
        o->given[ed_option_index(ed_option_find(kv[i].name))] |= ED_GIVEN_FLAG;
    }
    rc = 0;
out:
    free(kv);
    if (rc != 0) ed_args_free(a);
    return rc;
}
