// identify.h - who is sending (DESIGN.md pipeline step 1).
//
// In order: the SASL login ({auth_authen}) mapped to a key; an
// X-Outpost-Key header whose secret hashes to a key (compared in constant
// time); the client address inside a key's CIDR list; else
// milter.unauthenticated decides (reject: 550 5.7.1 AUTH_REQUIRED). With
// milter.unmanaged: pass, that refusal waits for authorize: a From domain
// outpost does not manage passes untouched, a managed one is refused.
//
// Decided at end of headers, because the header is one of the ways in; that
// is still before the body is sent. A key header that is present but wrong
// (or repeated) is refused with AUTH_REQUIRED rather than ignored: a sender
// that tries to identify and fails must learn it. Every X-Outpost-Key
// header is removed before delivery, valid or not, whoever sent it.
#pragma once

#include "milter/stage.h"

namespace outpost::milter {

inline constexpr const char* kKeyHeader = "X-Outpost-Key";

// The refusal of a sender outpost cannot identify.
StageResult auth_required();

class IdentifyStage : public Stage {
public:
    const char* name() const override { return "identify"; }
    StageResult end_of_headers(Message& m) override;
    StageResult end_of_message(Message& m) override;
};

}  // namespace outpost::milter
