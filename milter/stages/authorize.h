// authorize.h - may this sender use this From domain (DESIGN.md step 2).
//
// At end of headers: exactly one From header with exactly one mailbox
// (milter/from_header.h), its domain normalized; then, in this order so
// that a key learns nothing about domains it may not use:
//   unknown or removed domain        550 5.7.1 DOMAIN_NOT_FOUND
//   key's allowed_domains excludes   550 5.7.1 DOMAIN_NOT_ALLOWED_FOR_KEY
//   key's tenant does not own it     550 5.7.1 DOMAIN_TENANT_MISMATCH
//                                    (shared domains belong to every tenant;
//                                    a key without tenant is the operator's)
//   administrator's switch off       550 5.7.1 DOMAIN_INACTIVE
//   suspended for its health         550 5.7.1 DOMAIN_SUSPENDED
//   pending or failed verification  550 5.7.1 / 451 4.7.1 (milter.pending_action)
//                                    DOMAIN_PENDING_VERIFICATION; sandbox keys
//                                    skip this check
// A degraded domain (verified, then a record went missing) still sends:
// its selector was verified and mail in flight must keep flowing while the
// administrator is told.
#pragma once

#include "milter/stage.h"

namespace outpost::milter {

class AuthorizeStage : public Stage {
public:
    const char* name() const override { return "authorize"; }
    StageResult end_of_headers(Message& m) override;
};

}  // namespace outpost::milter
