// fuzz_dkim_record.cpp - DKIM key records (dns/verify.h parse_dkim_record).
// Input: the text of one TXT record (its strings joined), as found at
// <selector>._domainkey.<domain>.
// Invariants: never throws or crashes; valid exactly when no error is
// given; a valid record had a p= tag, its key holds no white space and is
// revoked exactly when empty; t= flags, h= and s= lists are lower case and
// hold no empty item; parsing is deterministic.
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "dns/verify.h"

namespace {

bool clean_list(const std::vector<std::string>& v) {
    for (const auto& s : v) {
        if (s.empty()) return false;
        for (unsigned char c : s)
            if (c >= 'A' && c <= 'Z') return false;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 65536) return 0;
    const std::string txt(reinterpret_cast<const char*>(data), size);
    const outpost::DkimKeyRecord r = outpost::parse_dkim_record(txt);
    if (r.valid == !r.error.empty()) std::abort();
    if (!r.valid) return 0;
    for (unsigned char c : r.public_key)
        if (std::isspace(c)) std::abort();
    if (r.revoked != r.public_key.empty()) std::abort();
    if (!clean_list(r.hashes) || !clean_list(r.services)) std::abort();
    for (unsigned char c : r.key_type)
        if (c >= 'A' && c <= 'Z') std::abort();
    for (const auto& t : r.unknown_tags)
        if (t.size() < 2 || t.back() != '=') std::abort();
    const outpost::DkimKeyRecord again = outpost::parse_dkim_record(txt);
    if (!again.valid || again.public_key != r.public_key || again.key_type != r.key_type) std::abort();
    return 0;
}
