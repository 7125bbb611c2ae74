// suppress.h - never send to addresses suppressed for the From domain
// (DESIGN.md step 4).
//
// Looked up at end of headers in the message's read snapshot (so a message
// whose every recipient is suppressed is refused before its body:
// 550 5.7.1 ALL_RECIPIENTS_SUPPRESSED); the suppressed recipients are
// removed with smfi_delrcpt at end of message. Sandbox mail is diverted
// anyway and is not filtered.
#pragma once

#include "milter/stage.h"

namespace outpost::milter {

// "<User@Example.COM>" -> "user@example.com"; "" if not an address.
std::string recipient_address(const std::string& rcpt);

class SuppressStage : public Stage {
public:
    const char* name() const override { return "suppress"; }
    StageResult end_of_headers(Message& m) override;
    StageResult end_of_message(Message& m) override;
};

}  // namespace outpost::milter
