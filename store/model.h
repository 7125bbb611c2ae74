// model.h - the domain model every binary shares.
//
// Values are stored as JSON objects (nlohmann::json) in LMDB; unknown fields
// are ignored on read so a newer minor version can add fields without a
// schema bump. Times are seconds since the epoch, UTC.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace outpost {

enum class DomainStatus { pending, verified, degraded, failed, suspended };
enum class SelectorState { pending, active, retiring, retired };
enum class KeyAlgorithm { rsa, ed25519 };
enum class CheckStatus { ok, missing, mismatch, error, warn };

const char* to_string(DomainStatus s);
const char* to_string(SelectorState s);
const char* to_string(KeyAlgorithm a);
const char* to_string(CheckStatus s);
DomainStatus domain_status_from(const std::string& s);
SelectorState selector_state_from(const std::string& s);
KeyAlgorithm key_algorithm_from(const std::string& s);
CheckStatus check_status_from(const std::string& s);

// One DNS check of a domain (filled by `domain verify`).
struct CheckResult {
    std::string name;  // dkim:<selector>, spf, dmarc, mailfrom, tracking
    std::string host;  // the DNS name looked up
    std::string expected;
    std::string found;
    CheckStatus status = CheckStatus::missing;
    std::string hint;  // what a person should do
    bool required = false;
    // DNSSEC state of the answers the check read: "" (no trust anchor
    // configured), "secure", "insecure" or "bogus"; the weakest one counts.
    std::string dnssec;
};

// A DKIM selector: one key pair (one algorithm) under one DNS name.
struct Selector {
    std::string name;
    KeyAlgorithm algorithm = KeyAlgorithm::rsa;
    int bits = 0;  // RSA only
    SelectorState state = SelectorState::pending;
    std::string public_key;  // base64 as in p=
    int64_t created_at = 0;
    int64_t activated_at = 0;
    int64_t retired_at = 0;
};

struct Domain {
    std::string name;          // A-label, lower case, no trailing dot (the key)
    std::string unicode_name;  // U-label form for display (== name if ASCII)
    std::string tenant;        // "" = no tenant
    bool shared = false;       // usable by every tenant
    DomainStatus status = DomainStatus::pending;
    bool active = true;    // the administrator's switch
    bool deleted = false;  // removed: history kept
    std::string dmarc_policy = "none";
    std::string rua;  // DMARC aggregate report address ("" = none)
    bool track_opens = false;
    bool track_clicks = false;
    bool unsubscribe = true;
    bool unsubscribe_footer = false;  // add an unsubscribe footer when the message has no placeholder
    int warmup_days = -1;             // -1 = config default
    int64_t daily_cap = -1;           // -1 = config default
    std::string existing_spf;         // SPF record found before us (merge advice)
    std::vector<Selector> selectors;  // in creation order
    std::vector<CheckResult> checks;
    int64_t created_at = 0;
    int64_t verified_at = 0;  // first time verified (warmup day 0)
    int64_t checked_at = 0;
    int64_t status_changed_at = 0;
    int64_t deleted_at = 0;
    std::string suspended_reason;

    // Selectors the milter signs with: the active ones (and retiring ones are
    // still published, but not used to sign).
    std::vector<const Selector*> signing_selectors() const;
    Selector* find_selector(const std::string& name);
    const Selector* find_selector(const std::string& name) const;
};

struct Tenant {
    std::string name;
    int64_t created_at = 0;
};

struct ApiKey {
    std::string name;
    std::string tenant;                        // "" = no tenant
    std::vector<std::string> allowed_domains;  // empty = every domain of its tenant
    std::string sasl;                          // SASL login mapped to this key
    std::vector<std::string> cidrs;            // client networks mapped to this key
    bool sandbox = false;
    std::string secret_hash;  // hex SHA-256 of the secret
    int64_t created_at = 0;
};

void to_json(nlohmann::json& j, const CheckResult& c);
void from_json(const nlohmann::json& j, CheckResult& c);
void to_json(nlohmann::json& j, const Selector& s);
void from_json(const nlohmann::json& j, Selector& s);
void to_json(nlohmann::json& j, const Domain& d);
void from_json(const nlohmann::json& j, Domain& d);
void to_json(nlohmann::json& j, const Tenant& t);
void from_json(const nlohmann::json& j, Tenant& t);
void to_json(nlohmann::json& j, const ApiKey& k);
void from_json(const nlohmann::json& j, ApiKey& k);

// The host name the domain's tracking and unsubscribe links use: its own
// `<label>.<domain>` once the tracking CNAME verified (a check named
// "tracking" with status ok), else the relay's `global_host`
// (tracking.host).
std::string tracking_host(const Domain& d, const std::string& label, const std::string& global_host);

int64_t now_seconds();

}  // namespace outpost
