// reports.h - reading bounce reports (DSN) and complaint reports (ARF).
//
// parse_dsn reads RFC 3464 delivery status notifications (multipart/report;
// report-type=delivery-status: Postfix's, Sendmail's, Exim's newer form)
// and Exim's classic text bounce; parse_arf reads RFC 5965 feedback reports
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
// were more). Reports over kMaxReportBytes are refused unread.
#pragma once

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
};

struct DsnRecipient {
    std::string final_recipient;  // address ("rfc822;" stripped), "" if none or another type
    std::string original_recipient;
    std::string action;      // failed | delayed | delivered | relayed | expanded
    std::string status;      // "5.1.1" ("" if missing or malformed)
    std::string diagnostic;  // Diagnostic-Code text without its type, one line, at most 500 octets
    std::string remote_mta;
};

struct Dsn {
    bool ok = false;
    std::string format;  // rfc3464 | exim-text
    std::string error;   // why not ok
    std::string reporting_mta;
    std::vector<DsnRecipient> recipients;
    bool truncated = false;
    ReportHeaders original;
};

struct Arf {
    bool ok = false;
    std::string error;
    std::string feedback_type;  // lower case
    std::string user_agent, version;
    std::string original_mail_from;  // local part's case kept (a VERP token)
    std::string original_rcpt_to;             // the first one
    std::vector<std::string> original_rcpts;  // all, capped
    std::string reported_domain, source_ip, arrival_date;
    ReportHeaders original;
};

Dsn parse_dsn(std::string_view message);
Arf parse_arf(std::string_view message);

}  // namespace outpost
