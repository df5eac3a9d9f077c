// spm_wrap.cc — libsentencepiece behind the C interface of spm_wrap.h. Kept to the calls
// the tokenizer needs; no C++ type or exception crosses into the C side.
#include "spm_wrap.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include <sentencepiece_processor.h>

struct ed_spm {
    sentencepiece::SentencePieceProcessor sp;
};

extern "C" ed_spm *ed_spm_load(const char *data, size_t len, char *why, size_t why_len) {
    try {
        ed_spm *s = new ed_spm;
        auto st = s->sp.LoadFromSerializedProto(std::string_view(data, len));
        if (!st.ok()) {
            std::snprintf(why, why_len, "%s", st.ToString().c_str());
            delete s;
            return nullptr;
        }
        return s;
    } catch (const std::exception &e) {
        std::snprintf(why, why_len, "%s", e.what());
        return nullptr;
    }
}

extern "C" void ed_spm_free(ed_spm *s) { delete s; }

extern "C" int ed_spm_encode(const ed_spm *s, const char *text, size_t len, int32_t **ids, size_t *n, size_t *cap) {
    try {
        std::vector<int> v;
        if (!s->sp.Encode(std::string_view(text, len), &v).ok()) return -1;
        if (*n + v.size() > *cap) {
            size_t c = *cap ? *cap : 64;
            while (c < *n + v.size()) c *= 2;
            void *p = std::realloc(*ids, c * sizeof(int32_t));
            if (!p) return -1;
            *ids = static_cast<int32_t *>(p);
            *cap = c;
        }
        for (int id : v) (*ids)[(*n)++] = id;
        return 0;
    } catch (const std::exception &) {
        return -1;
    }
}

extern "C" char *ed_spm_decode(const ed_spm *s, const int32_t *ids, size_t n) {
    try {
        std::vector<int> v(ids, ids + n);
        std::string out;
        if (!s->sp.Decode(v, &out).ok()) return nullptr;
        char *r = static_cast<char *>(std::malloc(out.size() + 1));
        if (!r) return nullptr;
        std::memcpy(r, out.data(), out.size());
        r[out.size()] = '\0';
        return r;
    } catch (const std::exception &) {
        return nullptr;
    }
}

extern "C" int ed_spm_size(const ed_spm *s) { return s->sp.GetPieceSize(); }

extern "C" const char *ed_spm_piece(const ed_spm *s, int32_t id) { return s->sp.IdToPiece(id).c_str(); }

extern "C" void ed_spm_roles(const ed_spm *s, int32_t roles[4]) {
    roles[0] = s->sp.pad_id();
    roles[1] = s->sp.unk_id();
    roles[2] = s->sp.bos_id();
    roles[3] = s->sp.eos_id();
}
