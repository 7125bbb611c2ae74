// verify.h - a domain's DNS checks, its status machine and DKIM rotation.
//
// Checks (each a CheckResult: expected, found, status, a hint naming the
// record to publish):
//   dkim:<selector>  TXT <selector>._domainkey.<domain> (CNAMEs followed) is
//                    one DKIM key record whose p= is our key and k= our
//                    algorithm; revoked keys (p= empty) fail; t=y and unknown
//                    tags are warnings
//   spf              exactly one v=spf1 record at <domain>, and libspf2
//                    says `pass` for every address of relay.ips
//   dmarc            v=DMARC1 at _dmarc.<domain>, else at the organizational
//                    domain's _dmarc; p=none is a warning
//   mailfrom         MX <mailfrom>.<domain> -> relay.bounce_host and SPF
//                    there passing (optional unless in verify.required)
//   tracking         CNAME <track>.<domain> -> tracking.host (optional)
//
// Status `error` means DNS could not answer (timeout, SERVFAIL, bogus
// DNSSEC): it says nothing about the record, so it never degrades or
// fails a domain by itself.
//
// Status machine (apply_verification):
//   pending  -> verified  when every required check passes (ok or warn)
//   pending  -> failed    when a required record is missing or wrong and
//                         the domain has been pending verify.pending_timeout
//   verified -> degraded  when a required record is missing or wrong
//   degraded, failed -> verified  when every required check passes
//   suspended stays suspended (health decides; `domain reinstate` ends it)
// DKIM selectors: when the domain has active selectors, a pending one whose
// record verifies becomes active and the active ones of its algorithm
// become retiring (published, no longer used to sign). On the first
// verification the pending selectors simply become active. Required DKIM
// checks are those of the active selectors (or of the pending ones while
// none is active).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "dns/resolver.h"
#include "store/model.h"

namespace outpost {

class Store;

// How verification words DNS answers, shared by `domain verify` and
// `relay verify` so both read alike.
std::string dq(const std::string& s);  // "s"
std::string joined(const std::vector<std::string>& v, const std::string& sep);
std::string dns_failure(const dns::Answer& a);  // "DNS SERVFAIL (why)"
// The hint for a failed look-up: nothing concluded; run `rerun` later.
std::string dns_error_hint(const dns::Answer& a, const std::string& rerun);
std::string decoration(const dns::Answer& a);  // " [via CNAME a -> b] [DNSSEC secure]"
// Keep the weakest DNSSEC state seen by a check (bogus < insecure < secure).
void note_dnssec(CheckResult& c, const std::string& state);
void note_dnssec(CheckResult& c, const dns::Answer& a);

// A DKIM key record (RFC 6376 section 3.6.1), as found in DNS.
struct DkimKeyRecord {
    bool valid = false;
    std::string error;                  // why it is not a key record
    std::string key_type = "rsa";       // k=
    std::string public_key;             // p=, whitespace removed
    bool revoked = false;               // p= present but empty
    bool testing = false;               // t= has y
    std::vector<std::string> hashes;    // h= (empty: any)
    std::vector<std::string> services;  // s= (empty: *)
    std::vector<std::string> unknown_tags;
};
DkimKeyRecord parse_dkim_record(const std::string& txt);

// A DMARC record (RFC 7489 section 6.3): the parts we report.
struct DmarcRecord {
    bool valid = false;
    std::string error;
    std::string policy;            // p=
    std::string subdomain_policy;  // sp= ("" when absent)
};
DmarcRecord parse_dmarc_record(const std::string& txt);
// The v=DMARC1 records among TXT values.
std::vector<std::string> dmarc_records(const std::vector<std::string>& txt_values);

// What one run found for one domain.
struct DomainVerification {
    std::string domain;
    std::vector<CheckResult> checks;
    // The SPF advice base for Domain::existing_spf; meaningful only when
    // spf_known (the SPF TXT look-up got an answer).
    bool spf_known = false;
    std::string existing_spf;
};

// Runs the checks of many domains with all their look-ups in flight
// together (one Resolver for the run: dns.deadline covers all of it).
class Verifier {
public:
    explicit Verifier(const Config& cfg);
    std::vector<DomainVerification> check(const std::vector<Domain>& domains);
    const dns::Resolver& resolver() const { return resolver_; }
    int spf_rounds() const { return spf_rounds_; }

private:
    const Config& cfg_;
    dns::Resolver resolver_;
    dns::DnsCache cache_;
    int spf_rounds_ = 0;
};

// The outcome of applying one run to a domain.
struct Transition {
    DomainStatus from = DomainStatus::pending;
    DomainStatus to = DomainStatus::pending;
    std::vector<std::string> activated;  // selectors pending -> active
    std::vector<std::string> retiring;   // selectors active -> retiring
    bool changed() const { return from != to || !activated.empty() || !retiring.empty(); }
};

// Whether a check with this status counts as passing.
bool check_passes(CheckStatus s);

// Applies `v` to `d` (the copy just re-read in a write transaction): marks
// required checks, promotes selectors, moves the status, stores the checks,
// checked_at and the SPF advice. Pure: no I/O.
Transition apply_verification(Domain& d, const DomainVerification& v, const Config& cfg, int64_t now);

struct VerifyReport {
    Domain domain;  // as saved
    Transition transition;
};

// Checks `domains` and saves every result in one write transaction,
// re-reading each domain inside it so concurrent changes (a rotation, a
// `domain set`) are kept. Domains removed meanwhile are skipped. Status
// changes and selector promotions are logged as events.
std::vector<VerifyReport> verify_domains(Store& store, const Config& cfg, const std::vector<Domain>& domains);

}  // namespace outpost
