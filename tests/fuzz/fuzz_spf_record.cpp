// fuzz_spf_record.cpp - the SPF text helpers that need no network
// (dns/spf.h spf_records, spf_has_include, merge_spf_records;
// dns/records.h spf_record, split_txt).
// Input: TXT texts found at a domain, separated by "\n--\n" (at most 8).
// Invariants: never throws or crashes; spf_records keeps a subset of its
// input, each text starting "v=spf1" (any case) then a space or the end;
// the merge of them starts "v=spf1", is itself one SPF record and has our
// include; spf_record(existing, ours) has our include as a term (and is
// `existing` unchanged when that already had it); split_txt gives pieces
// of at most 255 octets that join back to the text.
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "dns/records.h"
#include "dns/spf.h"
#include "split_values.h"

namespace {

constexpr const char* kInclude = "_spf.relay.example.net";

bool has_term(const std::string& record, const std::string& term) {
    std::istringstream in(record);
    for (std::string t; in >> t;)
        if (t == term || t == "+" + term) return true;
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 16384) return 0;
    const std::vector<std::string> texts = outpost::fuzz::split_values(data, size, 8);
    const auto records = outpost::dns::spf_records(texts);
    if (records.size() > texts.size()) std::abort();
    for (const auto& r : records) {
        if (r.size() < 6 || (r.size() > 6 && r[6] != ' ')) std::abort();
        std::string head = r.substr(0, 6);
        for (auto& c : head) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
        if (head != "v=spf1") std::abort();
    }
    const std::string merged = outpost::dns::merge_spf_records(records, kInclude);
    if (merged.rfind("v=spf1", 0) != 0) std::abort();
    if (outpost::dns::spf_records({merged}).size() != 1) std::abort();
    if (!outpost::dns::spf_has_include(merged, kInclude)) std::abort();

    const std::string ours = std::string("include:") + kInclude;
    const std::string published = outpost::spf_record(texts.front(), kInclude);
    if (!has_term(published, ours)) std::abort();
    if (has_term(texts.front(), ours) && published != texts.front()) std::abort();

    const auto pieces = outpost::split_txt(texts.front());
    std::string joined;
    for (const auto& p : pieces) {
        if (p.size() > 255) std::abort();
        joined += p;
    }
    if (joined != texts.front() || pieces.empty()) std::abort();
    return 0;
}
