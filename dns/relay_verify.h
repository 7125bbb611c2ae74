// relay_verify.h - `outpostctl relay verify`: the relay's own records
// (relay_records(): what `outpostctl relay records` prints) checked against
// DNS the way `domain verify` checks a domain's: the same resolver
// (dns.upstream, dns.timeout, DNSSEC with dns.trust_anchor), libspf2 for
// the SPF record, the same CheckResult statuses and hints.
//
// Checks, one per name and type:
//   relay-spf           exactly one v=spf1 TXT at relay.spf_include, and
//                       libspf2 says `pass` for every address of relay.ips
//                       (loopback addresses cannot be checked: skipped)
//   bounce-host:A/AAAA  relay.bounce_host has the relay's addresses of that
//                       family (the MX target of every MAIL FROM subdomain)
//   tracking-host:A/AAAA  tracking.host likewise (optional: a proxy in
//                       front of outpost-trackd may have other addresses)
// Status `error` means DNS did not answer; nothing is concluded.
#pragma once

#include <vector>

#include "config/config.h"
#include "store/model.h"

namespace outpost {

struct RelayVerification {
    std::vector<CheckResult> checks;
    // Every required check passes (ok or warn).
    bool verified = false;
};

RelayVerification verify_relay(const Config& cfg);

}  // namespace outpost
