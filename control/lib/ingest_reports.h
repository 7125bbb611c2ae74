// ingest_reports.h - bounces (DSN) and complaints (ARF) that come back to
// the relay, applied to the store.
//
// Which message a report is about is proven, never guessed from what a
// stranger wrote:
//   - a bounce must carry the VERP return path the milter wrote
//     (<relay.verp_prefix>+TOKEN@<records.mailfrom>.<domain>): as the
//     envelope recipient the pipe transport passes, or as the Return-Path of
//     the original message in the report. The token (kind bounce, within
//     bounces.lifetime) names the domain and the recipient(s); the address's
//     domain must be that domain's MAIL FROM subdomain. A recipient the
//     token does not name is not touched.
//   - a complaint is matched by the VERP token in its Original-Mail-From or
//     the original's Return-Path (as above); failing that, by a
//     DKIM-Signature of the original whose d= is an outpost domain and whose
//     s= is one of that domain's selectors; failing that, by the original's
//     From domain when it is an outpost domain. A token that is present but
//     forged, expired or for another domain ends the matter: nothing is
//     suppressed.
//
// Bounces (per recipient of the report): a permanent failure (Action failed,
// Status 5.x.x) counts as a hard bounce; when its status says the mailbox
// does not exist or never will (5.1.1, 5.1.2, 5.1.3, 5.1.6, 5.1.10, 5.2.1)
// the recipient is suppressed at once (reason bounce), other permanent
// failures suppress after bounces.suppress_after of them (within 30 days of
// each other). Temporary failures (4.x.x, Action delayed) count as soft
// bounces only. Complaints (Feedback-Type abuse, fraud, virus, other) count
// and suppress the complaining recipient at once (reason complaint);
// not-spam and auth-failure reports are not complaints.
//
// Afterwards the domain's health is applied (control/lib/health.h): rates
// over the window may suspend it.
//
// Nothing here throws for the report's content: what cannot be used is a
// result with a reason (the caller logs it and exits 0, so Postfix does not
// bounce the bounce). Store faults throw outpost::Error (exit 75: Postfix
// retries).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "store/store.h"
#include "store/tokens.h"

namespace outpost {

struct ReportResult {
    bool used = false;
    std::string reason;  // why nothing was done ("" if used)
    std::string domain;
    std::string matched_by;                  // verp | dkim | from
    int hard = 0, soft = 0, complaints = 0;  // counted
    std::vector<std::string> suppressed;     // newly suppressed addresses
    int ignored = 0;                         // report recipients the token does not name
    std::string health;                      // the health verdict's reason when it suspended the domain
};

// The token of a VERP address written for `cfg` ("" if the address is not one).
std::string verp_token_of(const Config& cfg, std::string_view address);

ReportResult ingest_dsn(Store& store, const TokenKeys& keys, const Config& cfg, std::string_view message,
                        const std::string& envelope_recipient, int64_t now);
ReportResult ingest_arf(Store& store, const TokenKeys& keys, const Config& cfg, std::string_view message,
                        const std::string& envelope_recipient, int64_t now);

}  // namespace outpost
