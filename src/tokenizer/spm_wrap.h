/* spm_wrap.h — the C face of libsentencepiece (a C++ library), for tok_spm.c. The one C++
 * file of the project, spm_wrap.cc, implements it and nothing else. Private to
 * src/tokenizer/. */
#ifndef EXPERT_SPM_WRAP_H
#define EXPERT_SPM_WRAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ed_spm ed_spm;

/* A processor from the bytes of a .model file (a serialized ModelProto). NULL with the
 * library's reason in why[0..why_len) when they are not one. */
ed_spm *ed_spm_load(const char *data, size_t len, char *why, size_t why_len);
void ed_spm_free(ed_spm *s);
/* Appends the ids of text[0..len) (any bytes; the library replaces invalid UTF-8) to
 * ids (*n used of *cap, grown with realloc). 0, or -1 when the library refuses. */
int ed_spm_encode(const ed_spm *s, const char *text, size_t len, int32_t **ids, size_t *n, size_t *cap);
/* malloc'd NUL-terminated text of ids (each in 0..size-1); NULL when the library refuses. */
char *ed_spm_decode(const ed_spm *s, const int32_t *ids, size_t n);
int ed_spm_size(const ed_spm *s);
/* The piece of id (valid while s lives); id must be in 0..size-1. */
const char *ed_spm_piece(const ed_spm *s, int32_t id);
/* PAD UNK BOS EOS ids as the model defines them, -1 for a role it has none for. */
void ed_spm_roles(const ed_spm *s, int32_t roles[4]);

#ifdef __cplusplus
}
#endif

#endif
