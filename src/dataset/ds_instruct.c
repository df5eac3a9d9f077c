/* ds_instruct.c — one line of instruction data -> the text of its example and the byte
 * spans of its completions, with the plain template docs/formats.md documents:
 *
 *   {"prompt": P, "completion": C}  ->  P C               (C is the one completion span)
 *   {"messages": [{"role": R, "content": X}, ...]}  ->  per turn "<|R|>\n" then
 *       system, user:  X "\n"
 *       assistant:     X                              (X is a completion span)
 *
 * The dataset adds [BOS] before the text and [EOS] after every completion span, so a
 * model learns to end its answer; a prompt for generation is the rendered turns ending
 * in "<|assistant|>\n". Only this template is rendered: a Jinja chat template (a
 * tokenizer_config.json's chat_template) is never guessed at. Every shape the renderer
 * cannot take is an error naming file:line and the field. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ds_lines.h"

/* The roles and their headers: one place for the template's markers. */
static const char *const ROLES[] = {"system", "user", "assistant", NULL};
enum { ROLE_ASSISTANT = 2 };

static void put(ds_example *ex, const char *s, size_t n) {
    if (ex->len + n + 1 > ex->cap) {
        ex->cap = 2 * (ex->len + n + 1);
        ex->text = ed_realloc(ex->text, ex->cap);
    }
    memcpy(ex->text + ex->len, s, n);
    ex->len += n;
    ex->text[ex->len] = '\0';
}

static void put_span(ds_example *ex, const char *s, size_t n) {
    if (ex->n_spans == ex->spans_cap) {
        ex->spans_cap = ex->spans_cap ? 2 * ex->spans_cap : 4;
        ex->spans = ed_realloc(ex->spans, ex->spans_cap * sizeof *ex->spans);
    }
    ex->spans[ex->n_spans++] = (ed_span){ex->len, ex->len + n};
    put(ex, s, n);
}

/* Text must be valid UTF-8 without NUL for the tokenizer (jansson checks UTF-8 and
 * refuses \u0000 by default), so only the types are checked here. */
static int prompt_completion(const json_t *root, const char *path, long line, ds_example *ex, ed_error *err) {
    const json_t *p = json_object_get(root, "prompt"), *c = json_object_get(root, "completion");
    if (!p) return ed_fail(err, "%s:%ld: no \"prompt\" field (it has \"completion\")", path, line);
    if (!c) return ed_fail(err, "%s:%ld: no \"completion\" field (it has \"prompt\")", path, line);
    if (!json_is_string(p))
        return ed_fail(err, "%s:%ld: field \"prompt\" is %s, expected a string", path, line, ds_json_type_name(p));
    if (!json_is_string(c))
        return ed_fail(err, "%s:%ld: field \"completion\" is %s, expected a string", path, line, ds_json_type_name(c));
    if (json_string_length(c) == 0 || ds_is_blank(json_string_value(c), json_string_length(c)))
        return ed_fail(err, "%s:%ld: field \"completion\" is empty: an example needs something to learn", path, line);
    put(ex, json_string_value(p), json_string_length(p));
    put_span(ex, json_string_value(c), json_string_length(c));
    return 0;
}

static int messages(const json_t *list, const char *path, long line, ds_example *ex, ed_error *err) {
    if (!json_is_array(list))
        return ed_fail(err, "%s:%ld: field \"messages\" is %s, expected a list of {\"role\", \"content\"} turns", path,
                       line, ds_json_type_name(list));
    size_t i;
    const json_t *turn;
    json_array_foreach(list, i, turn) {
        if (!json_is_object(turn))
            return ed_fail(err, "%s:%ld: messages[%zu] is %s, expected an object with \"role\" and \"content\"", path,
                           line, i, ds_json_type_name(turn));
        const json_t *r = json_object_get(turn, "role"), *c = json_object_get(turn, "content");
        if (!r) return ed_fail(err, "%s:%ld: messages[%zu] has no \"role\"", path, line, i);
        if (!json_is_string(r))
            return ed_fail(err, "%s:%ld: messages[%zu].role is %s, expected a string", path, line, i, ds_json_type_name(r));
        int role = -1;
        for (int k = 0; ROLES[k]; k++)
            if (strcmp(json_string_value(r), ROLES[k]) == 0) role = k;
        if (role < 0)
            return ed_fail(err, "%s:%ld: messages[%zu].role \"%.40s\" is not one of system, user, assistant", path, line,
                           i, json_string_value(r));
        if (!c) return ed_fail(err, "%s:%ld: messages[%zu] has no \"content\"", path, line, i);
        if (!json_is_string(c))
            return ed_fail(err, "%s:%ld: messages[%zu].content is %s, expected a string", path, line, i, ds_json_type_name(c));
        const char *x = json_string_value(c);
        size_t n = json_string_length(c);
        put(ex, "<|", 2);
        put(ex, ROLES[role], strlen(ROLES[role]));
        put(ex, "|>\n", 3);
        if (role == ROLE_ASSISTANT) {
            if (n == 0 || ds_is_blank(x, n))
                return ed_fail(err, "%s:%ld: messages[%zu].content is empty: an assistant turn needs something to learn",
                               path, line, i);
            put_span(ex, x, n);
        } else {
            put(ex, x, n);
            put(ex, "\n", 1);
        }
    }
    if (ex->n_spans == 0)
        return ed_fail(err, "%s:%ld: field \"messages\" has no assistant turn: nothing to learn", path, line);
    return 0;
}

int ds_instruct_render(const void *json_object, const char *path, long line, ds_example *ex, ed_error *err) {
    const json_t *root = json_object;
    ex->len = ex->n_spans = 0;
    put(ex, "", 0);
    const json_t *m = json_object_get(root, "messages");
    int pc = json_object_get(root, "prompt") || json_object_get(root, "completion");
    if (m && pc)
        return ed_fail(err, "%s:%ld: both \"messages\" and \"prompt\"/\"completion\": an example is one or the other",
                       path, line);
    if (m) return messages(m, path, line, ex, err);
    if (pc) return prompt_completion(root, path, line, ex, err);
    return ed_fail(err, "%s:%ld: neither \"prompt\"/\"completion\" nor \"messages\" (instruction data, --format instruct)",
                   path, line);
}

void ds_example_free(ds_example *ex) {
    free(ex->text);
    free(ex->spans);
    memset(ex, 0, sizeof *ex);
}
