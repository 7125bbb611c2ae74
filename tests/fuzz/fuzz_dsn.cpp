// fuzz_dsn.cpp - bounce reports (control/lib/reports.h parse_dsn).
// Input: one whole message, as it would arrive at the bounce address
// (multipart/report DSN, Exim or qmail text bounce, or anything else).
// Invariants: never throws or crashes; ok exactly when no error is given;
// an accepted report has a known format, at most kMaxReportRecipients
// recipients, each with an address or an original address that is
// lower case, 1 to 320 octets, free of controls and spaces, with an '@'
// inside; a known action; a status that is empty or N.N.N with class
// 2, 4 or 5; a one-line diagnostic of at most 500 octets; a lower-case
// remote MTA. A refused report carries no recipients.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "control/lib/reports.h"
#include "report_checks.h"

using outpost::fuzz::address_shape;
using outpost::fuzz::check_original;
using outpost::fuzz::no_upper;
using outpost::fuzz::one_line;

namespace {

bool status_shape(const std::string& s) {
    if (s.empty()) return true;
    if (s.size() < 5 || s.size() > 9 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
        return false;
    size_t i = 2;
    for (int part = 0; part < 2; ++part) {
        const size_t start = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
        if (i == start || i - start > 3) return false;
        if (part == 0 && (i >= s.size() || s[i++] != '.')) return false;
    }
    return i == s.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > (size_t(1) << 20)) return 0;
    const outpost::Dsn d = outpost::parse_dsn(std::string_view(reinterpret_cast<const char*>(data), size));
    if (d.ok == !d.error.empty()) std::abort();
    if (!d.ok) {
        if (!d.recipients.empty()) std::abort();
        return 0;
    }
    if (d.format != "rfc3464" && d.format != "exim-text" && d.format != "qmail-text") std::abort();
    if (d.recipients.empty() || d.recipients.size() > outpost::kMaxReportRecipients) std::abort();
    if (!no_upper(d.reporting_mta) || d.reporting_mta.size() > 255 || !one_line(d.arrival_date, 100)) std::abort();
    for (const auto& r : d.recipients) {
        if (r.final_recipient.empty() && r.original_recipient.empty()) std::abort();
        if (!address_shape(r.final_recipient, true) || !address_shape(r.original_recipient, true)) std::abort();
        if (r.action != "failed" && r.action != "delayed" && r.action != "delivered" && r.action != "relayed" &&
            r.action != "expanded")
            std::abort();
        if (!status_shape(r.status) || !status_shape(r.diagnostic_status)) std::abort();
        if (r.status_inferred && r.status.empty()) std::abort();
        if (!one_line(r.diagnostic, 500)) std::abort();
        if (!no_upper(r.remote_mta) || r.remote_mta.size() > 255) std::abort();
    }
    check_original(d.original);
    return 0;
}
