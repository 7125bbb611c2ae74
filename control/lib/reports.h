// reports.h - reading bounce reports (DSN) and complaint reports (ARF).
//
// parse_dsn reads RFC 3464 delivery status notifications (multipart/report;
// report-type=delivery-status, or RFC 6533's global-delivery-status:
// Postfix's, Sendmail's, Exim's newer form), Exim's classic text bounce and
// its "delayed" warning (format exim-text) and qmail-send's text bounce
// (format qmail-text); parse_arf reads RFC 5965 feedback reports
// (multipart/report; report-type=feedback-report). GMime parses the MIME
// structure and every header block (a report's field groups are fed to it
// as header blocks); this file only splits the groups at blank lines, picks
// the fields, and checks their shape. The original message (message/rfc822
// or text/rfc822-headers, or the copy a text bounce quotes) gives
// ReportHeaders.
//
// Hostile input is expected: nothing here throws for it, every value is
// length-checked, addresses are lower-cased and refused with control bytes
// or over 320 octets, a status must be N.N.N with N in {2,4,5}, and at most
// kMaxReportRecipients recipients are read (`truncated` says when there
// were more). Reports over kMaxReportBytes are refused unread. A report part
// whose base64 stops mid-quantum is refused (what decodes before the cut
// may be half an address). A per-recipient group holding a NUL or a bare CR
// is not read (`skipped` counts it): GMime would cut the value at the NUL
// and hand back a plausible prefix. No std::regex: libstdc++'s recurses per
// character and a long hostile line overflows the stack.
//
// Text bounces have no Status field: their status is the enhanced code of
// the quoted SMTP reply, else the reply's class ("5.0.0", "4.0.0"), else
// the class of the bounce (Exim and qmail say "permanent"), with
// `status_inferred` set whenever it was not written as an enhanced code.
//
// @note Neither function throws for the report's content; both are
//       thread-safe (GMime is initialised once; every object is per call).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace outpost {

inline constexpr size_t kMaxReportBytes = size_t(10) << 20;
inline constexpr size_t kMaxReportRecipients = 1000;

struct ReportHeaders {
    std::string return_path;  // the address inside Return-Path (local part's case kept), else ""
    std::string from;         // From mailbox address
    std::string to;           // first To mailbox address
    std::string message_id;
    std::vector<std::pair<std::string, std::string>> dkim;  // (d=, s=) of each DKIM-Signature, lower case
    std::vector<std::string> list_unsubscribe;              // values, unfolded, one line each
};

struct DsnRecipient {
    std::string final_recipient;  // address ("rfc822;" stripped), "" if none or another type
    std::string original_recipient;
    std::string action;            // failed | delayed | delivered | relayed | expanded
    std::string status;            // "5.1.1" ("" if missing or malformed)
    bool status_inferred = false;  // status not written as an enhanced code (text bounces)
    std::string diagnostic;        // Diagnostic-Code text without its type, one line, at most 500 octets
    // The enhanced code opening the diagnostic's SMTP reply ("550 5.1.1 ..."
    // -> "5.1.1"), "" if none: Exim's DSN writes Status 5.0.0 over a 5.1.1.
    std::string diagnostic_status;
    std::string remote_mta;  // host name ("dns;" stripped), lower case
};

struct Dsn {
    bool ok = false;
    std::string format;  // rfc3464 | exim-text | qmail-text
    std::string error;   // why not ok
    std::string reporting_mta;
    std::string arrival_date;
    std::vector<DsnRecipient> recipients;  // only those with a final or original recipient and an action
    bool truncated = false;
    size_t skipped = 0;  // per-recipient groups not read (NUL or bare CR in them)
    ReportHeaders original;
};

struct Arf {
    bool ok = false;
    std::string error;
    std::string feedback_type;  // lower case
    std::string user_agent, version;
    std::string original_mail_from;           // local part's case kept (a VERP token)
    std::string original_rcpt_to;             // the first one
    std::vector<std::string> original_rcpts;  // all, capped
    std::string reported_domain, source_ip, arrival_date;
    std::string reporting_mta;
    ReportHeaders original;
};

Dsn parse_dsn(std::string_view message);
Arf parse_arf(std::string_view message);

}  // namespace outpost
