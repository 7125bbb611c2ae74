// ingest_unsubscribe.h - mail to the List-Unsubscribe mailto address.
//
// The milter's mailto URI is  mailto:ADDR?subject=unsubscribe%20TOKEN  where
// TOKEN is a mailto token (store/tokens.h) naming the domain and the
// recipients the message went to. A Postfix pipe transport hands such mail
// to `outpostctl ingest unsubscribe`, which finds the token in the Subject
// (GMime decodes it), and suppresses for the token's domain:
//   - the token's recipient, when it was issued for one recipient (as the
//     RFC 8058 one-click URL does), or
//   - otherwise the From address or the envelope sender, but only if the
//     token names it: a copied header cannot unsubscribe somebody else.
// Anything it cannot use (no token, a forged, expired or other-kind token,
// a removed domain, a sender the token does not name) is a result with a
// reason, never an exception: the caller logs it and exits 0 so Postfix
// does not bounce it. Only faults of the store throw (outpost::Error), so
// Postfix keeps the mail and retries.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "store/store.h"
#include "store/tokens.h"

namespace outpost {

struct IngestResult {
    bool used = false;
    std::string domain;
    std::vector<std::string> suppressed;  // newly suppressed addresses
    std::vector<std::string> already;     // named, but suppressed before
    std::string reason;                   // why the mail was not used ("" if used)
};

inline constexpr size_t kMaxIngestBytes = size_t(10) << 20;

IngestResult ingest_unsubscribe(Store& store, const TokenKeys& keys, const Config& cfg,
                                std::string_view message, const std::string& envelope_sender, int64_t now);

}  // namespace outpost
