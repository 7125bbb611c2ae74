// return-path.h - VERP envelope sender on the domain's MAIL FROM subdomain
// (DESIGN.md step 7, between track and sign).
//
// When the From domain's optional `mailfrom` record verified (MX of
// <records.mailfrom>.<domain> to relay.bounce_host, and its SPF), the
// envelope sender becomes
//
//     <relay.verp_prefix>+<TOKEN>@<records.mailfrom>.<domain>
//
// with smfi_chgfrom, so bounces come back to the relay (and into
// `outpostctl ingest dsn` through a pipe transport), and SPF is evaluated
// for a subdomain of the From domain, which aligns for DMARC. TOKEN is a
// private token of kind bounce (store/tokens.h) naming the domain, the
// queue id, the original envelope sender and, when the transaction has one
// recipient, that recipient; with up to kMaxVerpRecipients recipients, their
// digests; with more, none (bounces are then counted, but suppress nobody).
//
// Left alone: the null sender (a bounce is never given a return path),
// sandbox mail, domains without a verified MAIL FROM, and an MTA that does
// not offer SMFIF_CHGFROM.
#pragma once

#include "milter/stage.h"

namespace outpost::milter {

inline constexpr size_t kMaxVerpRecipients = 8;

class ReturnPathStage : public Stage {
public:
    const char* name() const override { return "return-path"; }
    StageResult end_of_message(Message& m) override;
};

// True once the domain's `mailfrom` check passed.
bool mailfrom_verified(const Domain& d);

// The VERP address for these recipients (RCPT TO values).
std::string verp_address(const Config& cfg, const TokenKeys& keys, const std::string& domain,
                         const std::string& sender, const std::vector<std::string>& recipients,
                         const std::string& queue_id, int64_t now);

}  // namespace outpost::milter
