// unsubscribe.h - List-Unsubscribe (RFC 2369) and one-click (RFC 8058)
// (DESIGN.md step 6).
//
// When the domain has unsubscribe on and the message carries no
// List-Unsubscribe of its own:
//   one recipient   List-Unsubscribe: <https://HOST/u/TOKEN>,
//                    <mailto:ADDR?subject=unsubscribe%20TOKEN2>
//                   List-Unsubscribe-Post: List-Unsubscribe=One-Click
//   several         List-Unsubscribe: <mailto:ADDR?subject=unsubscribe%20TOKEN2>
// TOKEN is a private token (store/tokens.h) of kind unsubscribe naming the
// recipient and the domain; TOKEN2 is a mailto token naming the recipients
// it was issued for (up to TokenKeys::kMaxRecipients; a transaction with
// more gets no List-Unsubscribe). HOST is the domain's own tracking name
// (records.tracking + "." + domain) once its CNAME verified, else
// tracking.host; ADDR is milter.unsubscribe_mailto (at relay.hostname unless
// it holds an '@'). The value is folded at the comma, and no line is longer
// than kMaxHeaderLine octets: a one-click URL that would make its line
// longer (a very long recipient address) is left out, with
// List-Unsubscribe-Post, and the mailto URI alone is given. Existing
// List-Unsubscribe / List-Unsubscribe-Post headers are kept as they are.
//
// The headers are decided at end of headers (the signer must see them before
// the body streams) and added at end of message. The stage also leaves the
// URL that the track stage puts where the sender wrote the placeholder
// (Transaction::unsubscribe_url), even when the sender's own
// List-Unsubscribe is kept.
#pragma once

#include "milter/stage.h"

namespace outpost::milter {

class UnsubscribeStage : public Stage {
public:
    const char* name() const override { return "unsubscribe"; }
    StageResult end_of_headers(Message& m) override;
    StageResult end_of_message(Message& m) override;
};

// The longest header line (without CRLF) outpost writes: well under the
// 990 octets at which Sendmail's esmtp mailer folds (L=990) and Postfix's
// 998 (smtp_line_length_limit), both after the message is signed.
inline constexpr size_t kMaxHeaderLine = 900;

struct UnsubscribeLinks {
    std::string https;   // one-click URL ("" unless one recipient)
    std::string mailto;  // mailto: URI ("" if no recipient address or too many)
};
UnsubscribeLinks unsubscribe_links(const Config& cfg, const TokenKeys& keys, const std::string& domain,
                                   const std::string& host, const std::vector<std::string>& recipients,
                                   const std::string& queue_id, int64_t now);
// The headers the stage adds for `links` (exposed for tests).
std::vector<Header> unsubscribe_headers(const UnsubscribeLinks& links);

}  // namespace outpost::milter
