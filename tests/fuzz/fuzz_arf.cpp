// fuzz_arf.cpp - complaint reports (control/lib/reports.h parse_arf).
// Input: one whole message, as a feedback loop would send it
// (multipart/report; report-type=feedback-report, or anything else).
// Invariants: never throws or crashes; ok exactly when no error is given;
// an accepted report has a Feedback-Type that is a lower-case token of at
// most 64 octets; every address is 1 to 320 octets, free of controls and
// spaces, with an '@' inside and a lower-case domain (the whole address
// lower case except Original-Mail-From's local part); at most
// kMaxReportRecipients original recipients, the first of which is
// original_rcpt_to; one-line fields within their caps; the original's
// headers within theirs. A refused report carries no fields.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "control/lib/reports.h"
#include "report_checks.h"

using outpost::fuzz::address_shape;
using outpost::fuzz::no_upper;
using outpost::fuzz::one_line;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > (size_t(1) << 20)) return 0;
    const outpost::Arf a = outpost::parse_arf(std::string_view(reinterpret_cast<const char*>(data), size));
    if (a.ok == !a.error.empty()) std::abort();
    if (!a.ok) {
        if (!a.feedback_type.empty() || !a.original_rcpts.empty() || !a.original_mail_from.empty()) std::abort();
        return 0;
    }
    const std::string& t = a.feedback_type;
    if (t.empty() || t.size() > 64 || !no_upper(t)) std::abort();
    for (unsigned char c : t)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            std::abort();
    if (!one_line(a.user_agent, 200) || !one_line(a.version, 20) || !one_line(a.arrival_date, 100)) std::abort();
    if (!address_shape(a.original_mail_from, false)) std::abort();
    if (a.original_rcpts.size() > outpost::kMaxReportRecipients) std::abort();
    if (a.original_rcpts.empty() != a.original_rcpt_to.empty()) std::abort();
    if (!a.original_rcpts.empty() && a.original_rcpts.front() != a.original_rcpt_to) std::abort();
    for (const auto& r : a.original_rcpts)
        if (r.empty() || !address_shape(r, true)) std::abort();
    for (const std::string* h : {&a.reported_domain, &a.source_ip, &a.reporting_mta})
        if (h->size() > 255 || !no_upper(*h)) std::abort();
    outpost::fuzz::check_original(a.original);
    return 0;
}
