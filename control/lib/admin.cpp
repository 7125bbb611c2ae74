// admin.cpp - the domain lifecycle, tenants, keys and suppression.
#include "control/lib/admin.h"

#include <netinet/in.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>

#include "dns/domain_name.h"
#include "store/cidr.h"
#include "store/secrets.h"
#include "store/warmup.h"

namespace outpost {
namespace {

[[noreturn]] void domain_not_found(const std::string& name) {
    throw Error(Exit::not_found, "DOMAIN_NOT_FOUND",
                "domain " + name +
                    " is not in the store; see `outpostctl domain list`, or add it "
                    "with `outpostctl domain add " +
                    name + "`");
}

void check_policy(const std::string& p) {
    if (p != "none" && p != "quarantine" && p != "reject")
        throw Error(Exit::invalid, "DMARC_POLICY_INVALID",
                    "DMARC policy '" + p + "' is not one of none, quarantine, reject");
}

void check_name(const std::string& what, const std::string& name) {
    if (name.empty() || name.size() > 64 ||
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
            std::string::npos)
        throw Error(Exit::invalid, "NAME_INVALID",
                    what + " name '" + name + "' must be 1-64 letters, digits, '-', '_' or '.'");
}

void check_selector(const std::string& s) {
    if (s.empty() || s.size() > 63 ||
        s.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos ||
        s.front() == '-' || s.back() == '-')
        throw Error(Exit::invalid, "SELECTOR_INVALID",
                    "selector '" + s + "' must be one DNS label of lower-case letters, digits and '-'");
}

std::vector<KeyAlgorithm> algorithms(const std::string& a) {
    if (a == "rsa") return {KeyAlgorithm::rsa};
    if (a == "ed25519") return {KeyAlgorithm::ed25519};
    if (a == "both") return {KeyAlgorithm::rsa, KeyAlgorithm::ed25519};
    throw Error(Exit::invalid, "ALGORITHM_INVALID", "algorithm '" + a + "' is not one of rsa, ed25519, both");
}

// New selectors: the base name for RSA, base + "e" for ed25519; a base
// already used by this domain gets a letter suffix (op20261122b ...).
std::vector<Selector> new_selectors(const Domain& d, const std::string& requested, const std::string& prefix,
                                    const std::vector<KeyAlgorithm>& algs, int bits) {
    std::string base = requested;
    if (base.empty()) {
        base = prefix + utc_day(now_seconds());
        std::string candidate = base;
        for (char c = 'b'; d.find_selector(candidate) || d.find_selector(candidate + "e"); ++c) {
            if (c > 'z') throw Error(Exit::conflict, "SELECTOR_EXISTS", "too many selectors created today");
            candidate = base + c;
        }
        base = candidate;
    }
    check_selector(base);
    std::vector<Selector> out;
    for (auto alg : algs) {
        Selector s;
        s.name = alg == KeyAlgorithm::ed25519 && algs.size() > 1 ? base + "e" : base;
        if (d.find_selector(s.name))
            throw Error(Exit::conflict, "SELECTOR_EXISTS",
                        "domain " + d.name + " already has selector " + s.name + "; choose another");
        s.algorithm = alg;
        s.bits = alg == KeyAlgorithm::rsa ? bits : 0;
        s.created_at = now_seconds();
        out.push_back(s);
    }
    return out;
}

// Generates and writes the key pair of each new selector (filling in its
// public key). Unless keep() is called once the store has committed, the
// destructor removes the files again, so a refused command leaves no keys.
class NewKeys {
public:
    NewKeys(const KeyDir& dir, std::string domain, std::vector<Selector>& selectors)
        : dir_(dir), domain_(std::move(domain)) {
        try {
            for (auto& s : selectors) {
                KeyPair kp = generate_key(s.algorithm, s.bits);
                s.public_key = kp.public_b64;
                dir_.write(domain_, s.name, kp.private_pem);
                wipe(kp.private_pem);
                written_.push_back(s.name);
            }
        } catch (...) {
            remove_written();  // no destructor runs for a constructor that throws
            throw;
        }
    }
    ~NewKeys() { remove_written(); }
    NewKeys(const NewKeys&) = delete;
    NewKeys& operator=(const NewKeys&) = delete;
    void keep() { written_.clear(); }

private:
    void remove_written() noexcept {
        for (const auto& s : written_) dir_.remove(domain_, s);
        written_.clear();
    }

    const KeyDir& dir_;
    std::string domain_;
    std::vector<std::string> written_;
};

// Who ran the command, for the event log.
std::string actor() {
    const uid_t uid = ::geteuid();
    if (const passwd* pw = ::getpwuid(uid)) return pw->pw_name;
    return "uid:" + std::to_string(uid);
}

// Appends {"by": actor(), "at": now} to `event` and records it. Called once
// the change is committed (reinstate_domain excepted, see there).
void record_event(Store& store, const std::string& domain, nlohmann::json event) {
    event["by"] = actor();
    event["at"] = now_seconds();
    auto ct = store.write_counters();
    store.add_event(ct, domain, event);
    ct.commit();
}

}  // namespace

Admin::Admin(const Config& cfg)
    : cfg_(cfg), store_(cfg, Store::Mode::read_write), keys_(cfg.store.keys, ServiceOwner::of(cfg)) {
    // The milter reads this store and writes its counters: a store created
    // here as root is given to milter.user.
    for (const std::string& dir : {cfg.store.path, cfg.store.path + "/counters"}) {
        keys_.owner().give(dir);
        keys_.owner().give(dir + "/data.mdb");
        keys_.owner().give(dir + "/lock.mdb");
    }
}

Domain Admin::add_domain(const std::string& input, const AddDomainOptions& o) {
    const DomainName n = normalize_domain(input);
    const std::string policy = o.dmarc_policy.empty() ? cfg_.records.dmarc_policy : o.dmarc_policy;
    check_policy(policy);
    const std::string rua = o.rua.empty() ? "" : normalize_address(o.rua);
    const auto algs = algorithms(o.algorithm.empty() ? cfg_.dkim.algorithm : o.algorithm);
    const int bits = o.rsa_bits ? o.rsa_bits : cfg_.dkim.rsa_bits;
    if (bits < 1024 || bits > 4096)
        throw Error(Exit::invalid, "KEY_SIZE_INVALID",
                    "--rsa-bits " + std::to_string(bits) + " is outside 1024-4096; 2048 is the usual choice");
    {
        auto t = store_.read();
        if (auto old = store_.domain(t, n.ascii); old && !old->deleted)
            throw Error(Exit::conflict, "DOMAIN_ALREADY_ADDED",
                        "domain " + n.ascii + " is already added (status " + to_string(old->status) +
                            "); see `outpostctl domain show " + n.ascii + "`");
        if (!o.tenant.empty() && !store_.tenant(t, o.tenant))
            throw Error(Exit::not_found, "TENANT_NOT_FOUND",
                        "tenant '" + o.tenant + "' does not exist; add it with `outpostctl tenant add " +
                            o.tenant + "`");
    }
    Domain d;
    d.name = n.ascii;
    d.unicode_name = n.unicode;
    d.tenant = o.tenant;
    d.shared = o.shared;
    d.dmarc_policy = policy;
    d.rua = rua;
    d.created_at = d.status_changed_at = now_seconds();
    d.selectors = new_selectors(d, o.selector, cfg_.dkim.selector_prefix, algs, bits);

    // Keys first, then the store: if the commit fails, the keys are removed.
    NewKeys keys(keys_, d.name, d.selectors);
    {
        auto t = store_.write();
        if (auto old = store_.domain(t, d.name); old && !old->deleted)
            throw Error(Exit::conflict, "DOMAIN_ALREADY_ADDED", "domain " + d.name + " is already added");
        store_.put(t, d);
        t.commit();
    }
    keys.keep();
    nlohmann::json added = {{"type", "domain.added"}};
    if (!d.tenant.empty()) added["tenant"] = d.tenant;
    if (d.shared) added["shared"] = true;
    record_event(store_, d.name, added);
    return d;
}

Domain Admin::domain(const std::string& input) {
    const std::string name = normalize_domain(input).ascii;
    auto t = store_.read();
    auto d = store_.domain(t, name);
    if (!d || d->deleted) domain_not_found(name);
    return *d;
}

std::vector<Domain> Admin::domains(bool include_removed) {
    auto t = store_.read();
    auto all = store_.domains(t);
    if (!include_removed)
        all.erase(std::remove_if(all.begin(), all.end(), [](const Domain& d) { return d.deleted; }),
                  all.end());
    return all;
}

void Admin::save_domain(const Domain& d) {
    auto t = store_.write();
    store_.put(t, d);
    t.commit();
}

Domain Admin::set_domain(const std::string& input, const SetDomainOptions& o) {
    const std::string name = normalize_domain(input).ascii;
    if (!o.active && !o.track_opens && !o.track_clicks && !o.unsubscribe && !o.unsubscribe_footer &&
        !o.dmarc_policy && !o.warmup_days && !o.daily_cap)
        throw Error(Exit::usage, "NOTHING_TO_CHANGE",
                    "domain set " + name +
                        " was given no setting; name one, e.g. --track-opens on "
                        "(see outpostctl domain set --help)");
    if (o.dmarc_policy) check_policy(*o.dmarc_policy);
    if (o.warmup_days && (*o.warmup_days < 0 || *o.warmup_days > 365))
        throw Error(Exit::invalid, "VALUE_INVALID", "--warmup-days must be 0 to 365");
    if (o.daily_cap && *o.daily_cap < 0)
        throw Error(Exit::invalid, "VALUE_INVALID", "--daily-cap must be 0 (no cap) or more");
    auto t = store_.write();
    auto d = store_.domain(t, name);
    if (!d || d->deleted) domain_not_found(name);
    if (o.active) d->active = *o.active;
    if (o.track_opens) d->track_opens = *o.track_opens;
    if (o.track_clicks) d->track_clicks = *o.track_clicks;
    if (o.unsubscribe) d->unsubscribe = *o.unsubscribe;
    if (o.unsubscribe_footer) d->unsubscribe_footer = *o.unsubscribe_footer;
    if (o.dmarc_policy) d->dmarc_policy = *o.dmarc_policy;
    if (o.warmup_days) d->warmup_days = *o.warmup_days;
    if (o.daily_cap) d->daily_cap = *o.daily_cap;
    store_.put(t, *d);
    t.commit();
    nlohmann::json changes = nlohmann::json::object();
    if (o.active) changes["active"] = *o.active;
    if (o.track_opens) changes["track_opens"] = *o.track_opens;
    if (o.track_clicks) changes["track_clicks"] = *o.track_clicks;
    if (o.unsubscribe) changes["unsubscribe"] = *o.unsubscribe;
    if (o.unsubscribe_footer) changes["unsubscribe_footer"] = *o.unsubscribe_footer;
    if (o.dmarc_policy) changes["dmarc_policy"] = *o.dmarc_policy;
    if (o.warmup_days) changes["warmup_days"] = *o.warmup_days;
    if (o.daily_cap) changes["daily_cap"] = *o.daily_cap;
    if (!changes.empty()) record_event(store_, name, {{"type", "domain.set"}, {"changes", changes}});
    return *d;
}

Selector Admin::rotate_dkim(const std::string& input, const std::string& algorithm) {
    Domain d = domain(input);
    for (const auto& s : d.selectors)
        if (s.state == SelectorState::pending && d.status != DomainStatus::pending)
            throw Error(Exit::conflict, "ROTATION_PENDING",
                        "selector " + s.name + " of " + d.name +
                            " is still pending; publish its record and run `outpostctl domain verify " +
                            d.name + "` before rotating again");
    std::string alg = algorithm;
    if (alg.empty()) {
        // Rotate the algorithms currently signing (default: the config's).
        bool rsa = false, ed = false;
        for (auto* s : d.signing_selectors()) (s->algorithm == KeyAlgorithm::rsa ? rsa : ed) = true;
        alg = rsa && ed ? "both" : ed ? "ed25519" : rsa ? "rsa" : cfg_.dkim.algorithm;
    }
    auto fresh = new_selectors(d, "", cfg_.dkim.selector_prefix, algorithms(alg), cfg_.dkim.rsa_bits);
    NewKeys keys(keys_, d.name, fresh);
    {
        auto t = store_.write();
        auto cur = store_.domain(t, d.name);
        if (!cur || cur->deleted) domain_not_found(d.name);
        for (auto& s : fresh) cur->selectors.push_back(s);
        store_.put(t, *cur);
        t.commit();
    }
    keys.keep();
    std::string names;
    for (const auto& s : fresh) names += (names.empty() ? "" : ",") + s.name;
    record_event(store_, d.name, {{"type", "dkim.rotated"}, {"selector", names}, {"algorithm", alg}});
    return fresh.front();
}

void Admin::retire_dkim(const std::string& input, const std::string& selector) {
    const std::string name = normalize_domain(input).ascii;
    auto t = store_.write();
    auto d = store_.domain(t, name);
    if (!d || d->deleted) domain_not_found(name);
    Selector* s = d->find_selector(selector);
    if (!s)
        throw Error(Exit::not_found, "SELECTOR_NOT_FOUND",
                    "domain " + name + " has no selector '" + selector + "'; see `outpostctl domain show " +
                        name + "`");
    if (s->state == SelectorState::retired)
        throw Error(Exit::conflict, "SELECTOR_RETIRED", "selector " + selector + " is already retired");
    const bool signing = s->state == SelectorState::active;
    size_t others = 0;
    for (const auto& o : d->selectors)
        if (&o != s && (signing ? o.state == SelectorState::active : o.state != SelectorState::retired))
            ++others;
    if (others == 0)
        throw Error(Exit::conflict, "SELECTOR_IN_USE",
                    "selector " + selector + " is the last one " + name + (signing ? " signs with" : " has") +
                        "; rotate first (`outpostctl domain dkim rotate " + name +
                        "`) and verify the new one");
    s->state = SelectorState::retired;
    s->retired_at = now_seconds();
    store_.put(t, *d);
    t.commit();
    record_event(store_, name, {{"type", "dkim.retired"}, {"selector", selector}});
}

void Admin::remove_domain(const std::string& input) {
    const std::string name = normalize_domain(input).ascii;
    auto t = store_.write();
    auto d = store_.domain(t, name);
    if (!d || d->deleted) domain_not_found(name);
    d->deleted = true;
    d->active = false;
    d->deleted_at = now_seconds();
    store_.put(t, *d);
    t.commit();
    // The private keys of a removed domain must not sign again; they are set
    // aside (not destroyed) so a mistaken removal can be undone by hand.
    for (const auto& s : d->selectors) keys_.set_aside(d->name, s.name, d->deleted_at);
    record_event(store_, name, {{"type", "domain.removed"}});
}

void Admin::suspend_domain(const std::string& input, const std::string& reason) {
    const std::string name = normalize_domain(input).ascii;
    // The reason goes into SMTP replies: printable ASCII only, no '%'.
    if (reason.size() > 200 || std::any_of(reason.begin(), reason.end(),
                                           [](unsigned char c) { return c < 0x20 || c > 0x7e || c == '%'; }))
        throw Error(Exit::invalid, "VALUE_INVALID",
                    "--reason must be at most 200 printable ASCII characters without '%' "
                    "(it is quoted in SMTP replies)");
    auto t = store_.write();
    auto d = store_.domain(t, name);
    if (!d || d->deleted) domain_not_found(name);
    if (d->status == DomainStatus::suspended)
        throw Error(Exit::conflict, "DOMAIN_ALREADY_SUSPENDED",
                    "domain " + name + " is already suspended (" + d->suspended_reason +
                        "); lift it with `outpostctl domain reinstate " + name + "`");
    d->status = DomainStatus::suspended;
    d->suspended_reason = reason.empty() ? "suspended by the administrator" : reason;
    d->status_changed_at = now_seconds();
    store_.put(t, *d);
    t.commit();
    record_event(store_, name, {{"type", "domain.suspended"}, {"reason", d->suspended_reason}});
}

void Admin::reinstate_domain(const std::string& input) {
    const std::string name = normalize_domain(input).ascii;
    auto t = store_.write();
    auto d = store_.domain(t, name);
    if (!d || d->deleted) domain_not_found(name);
    if (d->status != DomainStatus::suspended)
        throw Error(Exit::conflict, "DOMAIN_NOT_SUSPENDED",
                    "domain " + name + " is " + to_string(d->status) + ", not suspended");
    // The event is committed before the domain: health counts from the day
    // after it (control/lib/health.h), and an ingest deciding a suspension
    // while this write transaction is held must already see it.
    record_event(store_, name, {{"type", "domain.reinstated"}, {"suspended_reason", d->suspended_reason}});
    d->status = d->verified_at ? DomainStatus::verified : DomainStatus::pending;
    d->suspended_reason.clear();
    d->status_changed_at = now_seconds();
    store_.put(t, *d);
    t.commit();
}

Tenant Admin::add_tenant(const std::string& name) {
    check_name("tenant", name);
    auto t = store_.write();
    if (store_.tenant(t, name))
        throw Error(Exit::conflict, "TENANT_ALREADY_ADDED", "tenant '" + name + "' already exists");
    Tenant tn{name, now_seconds()};
    store_.put(t, tn);
    t.commit();
    return tn;
}

std::vector<Tenant> Admin::tenants() {
    auto t = store_.read();
    return store_.tenants(t);
}

void Admin::remove_tenant(const std::string& name) {
    auto t = store_.write();
    if (!store_.tenant(t, name))
        throw Error(Exit::not_found, "TENANT_NOT_FOUND", "tenant '" + name + "' does not exist");
    for (const auto& d : store_.domains(t))
        if (!d.deleted && d.tenant == name)
            throw Error(Exit::conflict, "TENANT_IN_USE",
                        "tenant '" + name + "' still owns domain " + d.name +
                            "; remove the domain first (`outpostctl domain remove " + d.name + "`)");
    for (const auto& k : store_.keys(t))
        if (k.tenant == name)
            throw Error(Exit::conflict, "TENANT_IN_USE",
                        "tenant '" + name + "' still has key '" + k.name +
                            "'; remove it first (`outpostctl key remove " + k.name + "`)");
    store_.remove_tenant(t, name);
    t.commit();
}

std::pair<ApiKey, std::string> Admin::add_key(const std::string& name, const AddKeyOptions& o) {
    check_name("key", name);
    ApiKey k;
    k.name = name;
    k.tenant = o.tenant;
    k.sandbox = o.sandbox;
    k.sasl = o.sasl;
    for (const auto& c : o.cidrs) {
        auto parsed = Cidr::parse(c);
        if (!parsed)
            throw Error(Exit::invalid, "CIDR_INVALID",
                        "--cidr '" + c + "' is not a network such as 192.0.2.0/24 or 2001:db8::/32");
        // Host bits set (10.0.0.1/8): refused rather than guessed, since it
        // may mean the network 10.0.0.0/8 or the one host 10.0.0.1/32.
        Cidr net = *parsed;
        for (int bit = net.prefix; bit < (net.family == AF_INET ? 32 : 128); ++bit)
            net.addr[static_cast<size_t>(bit / 8)] &= static_cast<unsigned char>(~(0x80u >> (bit % 8)));
        if (net.addr != parsed->addr) {
            Cidr host = *parsed;
            host.prefix = host.family == AF_INET ? 32 : 128;
            throw Error(Exit::invalid, "CIDR_HOST_BITS",
                        "--cidr " + c + " has host bits set after the /" + std::to_string(parsed->prefix) +
                            "; write the network --cidr " + net.str() + ", or --cidr " + host.str() +
                            " for the one host");
        }
        k.cidrs.push_back(parsed->str());
    }
    for (const auto& a : o.allow) k.allowed_domains.push_back(normalize_domain(a).ascii);
    k.created_at = now_seconds();
    std::string secret = new_api_secret();
    k.secret_hash = hash_secret(secret);

    auto t = store_.write();
    if (store_.key(t, name))
        throw Error(Exit::conflict, "KEY_ALREADY_ADDED",
                    "key '" + name + "' already exists; remove it first or choose another name");
    if (!k.tenant.empty() && !store_.tenant(t, k.tenant))
        throw Error(
            Exit::not_found, "TENANT_NOT_FOUND",
            "tenant '" + k.tenant + "' does not exist; add it with `outpostctl tenant add " + k.tenant + "`");
    if (!k.sasl.empty())
        if (auto other = store_.key_by_sasl(t, k.sasl))
            throw Error(Exit::conflict, "SASL_IN_USE",
                        "SASL login '" + k.sasl + "' already maps to key '" + other->name + "'");
    for (const auto& a : k.allowed_domains) {
        auto d = store_.domain(t, a);
        if (!d || d->deleted)
            throw Error(
                Exit::not_found, "DOMAIN_NOT_FOUND",
                "--allow " + a + ": no such domain; add it first with `outpostctl domain add " + a + "`");
        if (!k.tenant.empty() && !d->shared && d->tenant != k.tenant)
            throw Error(Exit::conflict, "DOMAIN_TENANT_MISMATCH",
                        "--allow " + a + ": the domain belongs to tenant '" + d->tenant + "', not to '" +
                            k.tenant + "'");
    }
    store_.put(t, k);
    t.commit();
    return {k, std::move(secret)};
}

ApiKey Admin::key(const std::string& name) {
    auto t = store_.read();
    auto k = store_.key(t, name);
    if (!k)
        throw Error(Exit::not_found, "KEY_NOT_FOUND",
                    "key '" + name + "' does not exist; see `outpostctl key list`");
    return *k;
}

std::vector<ApiKey> Admin::keys() {
    auto t = store_.read();
    return store_.keys(t);
}

void Admin::remove_key(const std::string& name) {
    auto t = store_.write();
    if (!store_.remove_key(t, name))
        throw Error(Exit::not_found, "KEY_NOT_FOUND",
                    "key '" + name + "' does not exist; see `outpostctl key list`");
    t.commit();
}

void Admin::suppress(const std::string& domain_in, const std::string& address, const std::string& reason) {
    const std::string addr = normalize_address(address);
    // Kept with the entry and printed by `suppression list`: one printable line.
    if (reason.empty() || reason.size() > 200 ||
        std::any_of(reason.begin(), reason.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; }))
        throw Error(Exit::usage, "VALUE_INVALID",
                    "--reason must be 1 to 200 characters on one line, e.g. --reason \"asked by phone\"");
    const std::string name = normalize_domain(domain_in).ascii;
    auto t = store_.write();
    auto d = store_.domain(t, name);
    if (!d || d->deleted) domain_not_found(name);
    store_.suppress(t, name, addr, {{"reason", reason}, {"at", now_seconds()}});
    t.commit();
}

void Admin::unsuppress(const std::string& domain_in, const std::string& address) {
    const std::string addr = normalize_address(address);
    const std::string name = normalize_domain(domain_in).ascii;
    auto t = store_.write();
    if (!store_.unsuppress(t, name, addr))
        throw Error(Exit::not_found, "NOT_SUPPRESSED", addr + " is not suppressed for " + name);
    t.commit();
}

std::vector<std::pair<std::string, nlohmann::json>> Admin::suppressions(const std::string& domain_in) {
    const std::string name = domain(domain_in).name;
    auto t = store_.read();
    return store_.suppressions(t, name);
}

size_t Admin::check_keys() {
    size_t n = 0;
    for (const auto& d : domains(false))
        for (const auto& s : d.selectors) {
            if (s.state == SelectorState::retired) continue;
            std::string pem = keys_.read_matching(d.name, s.name, s.public_key);
            wipe(pem);
            ++n;
        }
    return n;
}

int64_t Admin::usage_today(const std::string& name) {
    auto t = store_.read_counters();
    return store_.counter(t, warmup_counter_key(name, now_seconds()));
}

}  // namespace outpost
