// model.cpp - names of states and the JSON form of the model.
#include "store/model.h"

#include <chrono>

#include "base/error.h"

namespace outpost {
namespace {

template <typename E, size_t N>
E from_names(const std::string& s, const char* const (&names)[N], const char* what) {
    for (size_t i = 0; i < N; ++i)
        if (s == names[i]) return static_cast<E>(i);
    throw Error(Exit::environment, "STORE_ERROR",
                std::string("unknown ") + what + " '" + s +
                    "' in the store: it was written by a newer outpost; upgrade this one");
}

const char* const kDomainStatus[] = {"pending", "verified", "degraded", "failed", "suspended"};
const char* const kSelectorState[] = {"pending", "active", "retiring", "retired"};
const char* const kAlgorithm[] = {"rsa", "ed25519"};
const char* const kCheckStatus[] = {"ok", "missing", "mismatch", "error", "warn"};

template <typename T>
void get_to(const nlohmann::json& j, const char* key, T& out) {
    if (auto it = j.find(key); it != j.end() && !it->is_null()) it->get_to(out);
}

}  // namespace

const char* to_string(DomainStatus s) {
    return kDomainStatus[static_cast<int>(s)];
}
const char* to_string(SelectorState s) {
    return kSelectorState[static_cast<int>(s)];
}
const char* to_string(KeyAlgorithm a) {
    return kAlgorithm[static_cast<int>(a)];
}
const char* to_string(CheckStatus s) {
    return kCheckStatus[static_cast<int>(s)];
}
DomainStatus domain_status_from(const std::string& s) {
    return from_names<DomainStatus>(s, kDomainStatus, "domain status");
}
SelectorState selector_state_from(const std::string& s) {
    return from_names<SelectorState>(s, kSelectorState, "selector state");
}
KeyAlgorithm key_algorithm_from(const std::string& s) {
    return from_names<KeyAlgorithm>(s, kAlgorithm, "key algorithm");
}
CheckStatus check_status_from(const std::string& s) {
    return from_names<CheckStatus>(s, kCheckStatus, "check status");
}

int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::vector<const Selector*> Domain::signing_selectors() const {
    std::vector<const Selector*> out;
    for (const auto& s : selectors)
        if (s.state == SelectorState::active) out.push_back(&s);
    return out;
}

Selector* Domain::find_selector(const std::string& n) {
    for (auto& s : selectors)
        if (s.name == n) return &s;
    return nullptr;
}

const Selector* Domain::find_selector(const std::string& n) const {
    for (const auto& s : selectors)
        if (s.name == n) return &s;
    return nullptr;
}

void to_json(nlohmann::json& j, const CheckResult& c) {
    j = {{"name", c.name},
         {"host", c.host},
         {"expected", c.expected},
         {"found", c.found},
         {"status", to_string(c.status)},
         {"hint", c.hint},
         {"required", c.required},
         {"dnssec", c.dnssec}};
}
void from_json(const nlohmann::json& j, CheckResult& c) {
    get_to(j, "name", c.name);
    get_to(j, "host", c.host);
    get_to(j, "expected", c.expected);
    get_to(j, "found", c.found);
    get_to(j, "hint", c.hint);
    get_to(j, "required", c.required);
    get_to(j, "dnssec", c.dnssec);
    c.status = check_status_from(j.value("status", "missing"));
}

void to_json(nlohmann::json& j, const Selector& s) {
    j = {{"name", s.name},
         {"algorithm", to_string(s.algorithm)},
         {"bits", s.bits},
         {"state", to_string(s.state)},
         {"public_key", s.public_key},
         {"created_at", s.created_at},
         {"activated_at", s.activated_at},
         {"retired_at", s.retired_at}};
}
void from_json(const nlohmann::json& j, Selector& s) {
    get_to(j, "name", s.name);
    s.algorithm = key_algorithm_from(j.value("algorithm", "rsa"));
    get_to(j, "bits", s.bits);
    s.state = selector_state_from(j.value("state", "pending"));
    get_to(j, "public_key", s.public_key);
    get_to(j, "created_at", s.created_at);
    get_to(j, "activated_at", s.activated_at);
    get_to(j, "retired_at", s.retired_at);
}

void to_json(nlohmann::json& j, const Domain& d) {
    j = {{"name", d.name},
         {"unicode_name", d.unicode_name},
         {"tenant", d.tenant},
         {"shared", d.shared},
         {"status", to_string(d.status)},
         {"active", d.active},
         {"deleted", d.deleted},
         {"dmarc_policy", d.dmarc_policy},
         {"rua", d.rua},
         {"track_opens", d.track_opens},
         {"track_clicks", d.track_clicks},
         {"unsubscribe", d.unsubscribe},
         {"unsubscribe_footer", d.unsubscribe_footer},
         {"warmup_days", d.warmup_days},
         {"daily_cap", d.daily_cap},
         {"existing_spf", d.existing_spf},
         {"selectors", d.selectors},
         {"checks", d.checks},
         {"created_at", d.created_at},
         {"verified_at", d.verified_at},
         {"checked_at", d.checked_at},
         {"status_changed_at", d.status_changed_at},
         {"deleted_at", d.deleted_at},
         {"suspended_reason", d.suspended_reason}};
}
void from_json(const nlohmann::json& j, Domain& d) {
    get_to(j, "name", d.name);
    get_to(j, "unicode_name", d.unicode_name);
    get_to(j, "tenant", d.tenant);
    get_to(j, "shared", d.shared);
    d.status = domain_status_from(j.value("status", "pending"));
    get_to(j, "active", d.active);
    get_to(j, "deleted", d.deleted);
    get_to(j, "dmarc_policy", d.dmarc_policy);
    get_to(j, "rua", d.rua);
    get_to(j, "track_opens", d.track_opens);
    get_to(j, "track_clicks", d.track_clicks);
    get_to(j, "unsubscribe", d.unsubscribe);
    get_to(j, "unsubscribe_footer", d.unsubscribe_footer);
    get_to(j, "warmup_days", d.warmup_days);
    get_to(j, "daily_cap", d.daily_cap);
    get_to(j, "existing_spf", d.existing_spf);
    get_to(j, "selectors", d.selectors);
    get_to(j, "checks", d.checks);
    get_to(j, "created_at", d.created_at);
    get_to(j, "verified_at", d.verified_at);
    get_to(j, "checked_at", d.checked_at);
    get_to(j, "status_changed_at", d.status_changed_at);
    get_to(j, "deleted_at", d.deleted_at);
    get_to(j, "suspended_reason", d.suspended_reason);
}

void to_json(nlohmann::json& j, const Tenant& t) {
    j = {{"name", t.name}, {"created_at", t.created_at}};
}
void from_json(const nlohmann::json& j, Tenant& t) {
    get_to(j, "name", t.name);
    get_to(j, "created_at", t.created_at);
}

void to_json(nlohmann::json& j, const ApiKey& k) {
    j = {{"name", k.name},
         {"tenant", k.tenant},
         {"allowed_domains", k.allowed_domains},
         {"sasl", k.sasl},
         {"cidrs", k.cidrs},
         {"sandbox", k.sandbox},
         {"secret_hash", k.secret_hash},
         {"created_at", k.created_at}};
}
void from_json(const nlohmann::json& j, ApiKey& k) {
    get_to(j, "name", k.name);
    get_to(j, "tenant", k.tenant);
    get_to(j, "allowed_domains", k.allowed_domains);
    get_to(j, "sasl", k.sasl);
    get_to(j, "cidrs", k.cidrs);
    get_to(j, "sandbox", k.sandbox);
    get_to(j, "secret_hash", k.secret_hash);
    get_to(j, "created_at", k.created_at);
}

std::string tracking_host(const Domain& d, const std::string& label, const std::string& global_host) {
    for (const auto& c : d.checks)
        if (c.name == "tracking" && c.status == CheckStatus::ok) return label + "." + d.name;
    return global_host;
}

}  // namespace outpost
