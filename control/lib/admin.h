// admin.h - what outpostctl does, as a library the tests call directly.
//
// Each operation validates its input before it touches anything, so a
// refusal (an outpost::Error) leaves the store and the key directory as they
// were. Writes run in one LMDB write transaction, which also makes
// "check, then write" atomic against other outpostctl processes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "dns/dkim_keys.h"
#include "store/store.h"

namespace outpost {

struct AddDomainOptions {
    std::string tenant;
    bool shared = false;
    std::string dmarc_policy;  // "" = config default
    std::string rua;
    std::string selector;   // "" = prefix + date
    std::string algorithm;  // "" = config default; rsa | ed25519 | both
    int rsa_bits = 0;       // 0 = config default
};

struct SetDomainOptions {
    std::optional<bool> active, track_opens, track_clicks, unsubscribe, unsubscribe_footer;
    std::optional<std::string> dmarc_policy;
    std::optional<int> warmup_days;
    std::optional<int64_t> daily_cap;
};

struct AddKeyOptions {
    std::string tenant;
    std::vector<std::string> allow;
    std::string sasl;
    std::vector<std::string> cidrs;
    bool sandbox = false;
};

class Admin {
public:
    explicit Admin(const Config& cfg);

    Domain add_domain(const std::string& name, const AddDomainOptions& o);
    // Not found (or removed) -> Error(not_found, DOMAIN_NOT_FOUND).
    Domain domain(const std::string& name);
    std::vector<Domain> domains(bool include_removed);
    Domain set_domain(const std::string& name, const SetDomainOptions& o);
    Selector rotate_dkim(const std::string& name, const std::string& algorithm);
    void retire_dkim(const std::string& name, const std::string& selector);
    void remove_domain(const std::string& name);
    // Suspension by hand (health suspension sets the same state); mail from
    // the domain gets DOMAIN_SUSPENDED until reinstate_domain().
    void suspend_domain(const std::string& name, const std::string& reason);
    void reinstate_domain(const std::string& name);
    // Write a whole domain back (tests set up states no command reaches).
    void save_domain(const Domain& d);

    Tenant add_tenant(const std::string& name);
    std::vector<Tenant> tenants();
    void remove_tenant(const std::string& name);

    // Returns the key and its secret; the secret is shown once, never stored.
    std::pair<ApiKey, std::string> add_key(const std::string& name, const AddKeyOptions& o);
    ApiKey key(const std::string& name);
    std::vector<ApiKey> keys();
    void remove_key(const std::string& name);

    void suppress(const std::string& domain, const std::string& address, const std::string& reason);
    void unsuppress(const std::string& domain, const std::string& address);
    std::vector<std::pair<std::string, nlohmann::json>> suppressions(const std::string& domain);

    int64_t usage_today(const std::string& domain);

    // Reads every published selector's private key (mode check included)
    // and checks it matches the public key in the store; returns how many.
    size_t check_keys();

    Store& store() { return store_; }
    const Config& config() const { return cfg_; }
    const KeyDir& key_dir() const { return keys_; }

private:
    const Config& cfg_;
    Store store_;
    KeyDir keys_;
};

}  // namespace outpost
