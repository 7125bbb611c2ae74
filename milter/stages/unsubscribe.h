// unsubscribe.h - List-Unsubscribe (RFC 2369) and one-click (RFC 8058)
// (DESIGN.md step 6).
//
// When the domain has unsubscribe on and the message carries no
// List-Unsubscribe of its own:
//   one recipient   List-Unsubscribe: <https://TRACKING.HOST/u/TOKEN>,
//                                     <mailto:ADDR?subject=unsubscribe%20TOKEN>
//                   List-Unsubscribe-Post: List-Unsubscribe=One-Click
//   several         List-Unsubscribe: <mailto:ADDR?subject=unsubscribe%20TOKEN>
// TOKEN is an HMAC-signed token (store/tokens.h): for one recipient it names
// the recipient and the domain ("u"); for several, only the domain ("m"),
// and the mailto's sender says who unsubscribes. ADDR is
// milter.unsubscribe_mailto (at relay.hostname unless it holds an '@').
// Existing List-Unsubscribe / List-Unsubscribe-Post headers are kept as
// they are. Values are built from checked parts and can never hold CR or LF;
// one that would exceed a 998-octet line is shortened (mailto dropped) rather
// than folded.
//
// The headers are decided at end of headers (the signer must see them before
// the body streams) and added at end of message.
#pragma once

#include "milter/stage.h"

namespace outpost::milter {

class UnsubscribeStage : public Stage {
public:
    const char* name() const override { return "unsubscribe"; }
    StageResult end_of_headers(Message& m) override;
    StageResult end_of_message(Message& m) override;
};

// The headers the stage adds (exposed for tests).
std::vector<Header> unsubscribe_headers(const Config& cfg, const TokenKeys& keys, const std::string& domain,
                                        const std::vector<std::string>& recipients,
                                        const std::string& queue_id, int64_t now);

}  // namespace outpost::milter
