// fuzz_from_header.cpp - the From policy over GMime's address parser.
// Input: header values separated by "\n--\n", so a
// value may hold any octet, NUL included (each value is one From header).
// Invariants: never crashes; an accepted address is local@domain, appears
// literally in the one value, and its domain is non-empty, lower case and
// dot-free at neither end.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "milter/from_header.h"
#include "base/gmime.h"
#include "split_values.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    outpost::gmime_init_once();
    const std::vector<std::string> values = outpost::fuzz::split_values(data, size, 9);
    const auto r = outpost::milter::parse_from(values);
    if (!r.ok) {
        if (r.error.empty()) std::abort();  // a refusal always says why
        return 0;
    }
    if (values.size() != 1) std::abort();
    const size_t at = r.address.rfind('@');
    if (at == std::string::npos || at == 0 || r.domain.empty()) std::abort();
    if (values[0].find(r.address) == std::string::npos) std::abort();
    for (char c : r.domain)
        if (c >= 'A' && c <= 'Z') std::abort();
    if (r.domain.front() == '.' || r.domain.back() == '.') std::abort();
    return 0;
}
