// sign.h - DKIM signatures (DESIGN.md step 8, always last).
//
// At end of headers, one DkimSigner per signing selector of the domain (the
// active ones; rsa-sha256, and ed25519-sha256 where the domain has an active
// ed25519 selector) is fed the headers exactly as they will be delivered:
// the message's own headers without X-Outpost-Key (identify removes it),
// then the headers earlier stages add at the end (List-Unsubscribe...). The
// body is streamed to the signers chunk by chunk as the MTA sends it; it is
// never buffered by this stage. When the track stage replaced the body, the
// streamed signatures are dropped and the new body is signed instead, so the
// signature always covers what is delivered. At end of message each
// signature is inserted at the top (smfi_insheader index 0).
//
// A domain with no active selector, or a key that is missing, unreadable or
// does not match the store, is 451 4.3.0 DKIM_KEY_UNAVAILABLE: mail that
// should be signed is never accepted unsigned. Sandbox mail from a domain
// that has no active selector yet is signed with its pending selector(s).
#pragma once

#include "milter/stage.h"

namespace outpost::milter {

class SignStage : public Stage {
public:

    const char* name() const override { return "sign"; }
    StageResult end_of_headers(Message& m) override;
    void body(Message& m, const unsigned char* data, size_t len) override;
    StageResult end_of_message(Message& m) override;
};

}  // namespace outpost::milter
