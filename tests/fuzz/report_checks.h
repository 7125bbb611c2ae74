// report_checks.h - what fuzz_dsn and fuzz_arf require of every field the
// DSN and ARF parsers (control/lib/reports.h) hand back.
#pragma once

#include <cstdlib>
#include <string>

#include "control/lib/reports.h"

namespace outpost::fuzz {

// Empty, or local@domain: at most 320 octets, no white space, controls or
// address punctuation, the domain (and the local part too, if
// `lower_local`) in lower case.
inline bool address_shape(const std::string& a, bool lower_local) {
    if (a.empty()) return true;
    if (a.size() > 320) return false;
    const size_t at = a.rfind('@');
    if (at == std::string::npos || at == 0 || at + 1 == a.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        const auto c = static_cast<unsigned char>(a[i]);
        if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',' || c == ';') return false;
        if ((lower_local || i > at) && c >= 'A' && c <= 'Z') return false;
    }
    return true;
}

// At most `max` octets, no control character (so one log line).
inline bool one_line(const std::string& s, size_t max) {
    if (s.size() > max) return false;
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f) return false;
    return true;
}

// No upper-case ASCII letter (names the parsers lower).
inline bool no_upper(const std::string& s) {
    for (char c : s)
        if (c >= 'A' && c <= 'Z') return false;
    return true;
}

// The original message's headers a report carries: abort() if one is out
// of shape.
inline void check_original(const ReportHeaders& h) {
    if (!address_shape(h.return_path, false) || !address_shape(h.from, true) || !address_shape(h.to, true))
        std::abort();
    if (!one_line(h.message_id, 320) || h.dkim.size() > 16 || h.list_unsubscribe.size() > 8) std::abort();
    for (const auto& [d, s] : h.dkim)
        if (d.empty() || s.empty() || !no_upper(d) || !no_upper(s)) std::abort();
    for (const auto& l : h.list_unsubscribe)
        if (l.empty() || !one_line(l, 2000)) std::abort();
}

}  // namespace outpost::fuzz
