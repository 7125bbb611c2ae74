// fuzz_dmarc_record.cpp - DMARC records (dns/verify.h parse_dmarc_record and
// dmarc_records).
// Input: TXT texts found at _dmarc.<domain>, separated by "\n--\n" (at most
// 8); each is parsed alone and the list is filtered as verification does.
// Invariants: never throws or crashes; valid exactly when no error is
// given; a valid record's policy is none, quarantine or reject and its
// subdomain policy is empty or one of them; dmarc_records keeps a subset of
// its input, in order, and keeps every text parse_dmarc_record accepts.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "dns/verify.h"
#include "split_values.h"

namespace {

bool policy(const std::string& p) {
    return p == "none" || p == "quarantine" || p == "reject";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 65536) return 0;
    const std::vector<std::string> texts = outpost::fuzz::split_values(data, size, 8);
    std::vector<std::string> valid;
    for (const auto& t : texts) {
        const outpost::DmarcRecord r = outpost::parse_dmarc_record(t);
        if (r.valid == !r.error.empty()) std::abort();
        if (!r.valid) continue;
        if (!policy(r.policy)) std::abort();
        if (!r.subdomain_policy.empty() && !policy(r.subdomain_policy)) std::abort();
        valid.push_back(t);
    }
    const std::vector<std::string> kept = outpost::dmarc_records(texts);
    size_t from = 0;
    for (const auto& k : kept) {  // a subsequence of texts
        while (from < texts.size() && texts[from] != k) ++from;
        if (from == texts.size()) std::abort();
        ++from;
    }
    for (const auto& v : valid) {
        bool found = false;
        for (const auto& k : kept) found = found || k == v;
        if (!found) std::abort();
    }
    return 0;
}
