// store.cpp - tables, schema version, and the typed accessors.
#include "store/store.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "base/log.h"

namespace outpost {
namespace {

constexpr size_t kMainMapSize = size_t(1) << 30;  // 1 GiB, sparse
constexpr size_t kCountersFirstMapSize = size_t(16) << 20;

std::string sep(const std::string& a, const std::string& b) {
    return a + '\0' + b;
}

template <typename T>
std::optional<T> get_json(const lmdb::Txn& t, MDB_dbi dbi, const std::string& key) {
    auto v = t.get(dbi, key);
    if (!v) return std::nullopt;
    try {
        return nlohmann::json::parse(*v).get<T>();
    } catch (const nlohmann::json::exception& e) {
        throw Error(
            Exit::environment, "STORE_ERROR",
            "corrupt record '" + key + "' in the store: " + e.what() +
                "; restore the store from a backup (mdb_dump/mdb_load), or remove and re-add the entry");
    }
}

template <typename T>
std::vector<T> all_json(const lmdb::Txn& t, MDB_dbi dbi, const std::string& prefix = "") {
    std::vector<T> out;
    t.each(dbi, prefix, [&](std::string_view, std::string_view v) {
        out.push_back(nlohmann::json::parse(v).get<T>());
        return true;
    });
    return out;
}

}  // namespace

std::string utc_day(int64_t epoch_seconds) {
    std::time_t tt = static_cast<std::time_t>(epoch_seconds);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y%m%d", &tm);
    return buf;
}

Store::Store(const Config& cfg, Mode mode)
    : path_(cfg.store.path),
      counters_max_(static_cast<size_t>(cfg.store.counters_max_size)),
      stats_days_(cfg.store.stats_days),
      events_days_(cfg.store.events_days) {
    const bool rw = mode == Mode::read_write;
    main_ = lmdb::Env::open(path_, rw ? 0 : MDB_RDONLY, 16, kMainMapSize, rw);
    open_counters();

    dbi_.meta = lmdb::open_dbi(*main_, "meta", rw);
    {
        auto t = read();
        auto v = t.get(dbi_.meta, "schema_version");
        if (v) {
            int found = std::atoi(std::string(*v).c_str());
            if (found > kSchemaVersion)
                throw Error(Exit::environment, "STORE_SCHEMA_NEWER",
                            "the store at " + path_ + " has schema version " + std::to_string(found) +
                                " but this outpost understands up to " + std::to_string(kSchemaVersion) +
                                "; upgrade outpost, or point store.path at another store");
            if (found < kSchemaVersion)
                throw Error(Exit::environment, "STORE_SCHEMA_OLDER",
                            "the store at " + path_ + " has schema version " + std::to_string(found) +
                                "; run `outpostctl store migrate` to upgrade it");
        } else if (!rw) {
            throw Error(Exit::environment, "STORE_ERROR",
                        "the store at " + path_ + " is not initialised; run outpostctl once");
        }
    }
    dbi_.domains = lmdb::open_dbi(*main_, "domains", rw);
    dbi_.selectors = lmdb::open_dbi(*main_, "selectors", rw);
    dbi_.tenants = lmdb::open_dbi(*main_, "tenants", rw);
    dbi_.keys = lmdb::open_dbi(*main_, "keys", rw);
    dbi_.key_hashes = lmdb::open_dbi(*main_, "key_hashes", rw);
    dbi_.key_sasl = lmdb::open_dbi(*main_, "key_sasl", rw);
    dbi_.suppression = lmdb::open_dbi(*main_, "suppression", rw);
    if (rw) {
        auto t = write();
        if (!t.get(dbi_.meta, "schema_version")) {
            t.put(dbi_.meta, "schema_version", std::to_string(kSchemaVersion));
            t.put(dbi_.meta, "created_at", std::to_string(now_seconds()));
            t.commit();
        }
    }
}

// The counters env is written by the milter even though it only reads the
// main env, so it is always opened read-write. A damaged one is moved aside
// and recreated (soft state, see store.h).
void Store::open_counters() {
    const std::string dir = path_ + "/counters";
    if (counters_max_ == 0) counters_max_ = size_t(1) << 30;
    const size_t first = std::min(kCountersFirstMapSize, counters_max_);
    for (int attempt = 0;; ++attempt) {
        try {
            counters_ = lmdb::Env::open(dir, MDB_NOSYNC, 8, first, true);
            dbi_.counters = lmdb::open_dbi(*counters_, "counters", true);
            dbi_.stats = lmdb::open_dbi(*counters_, "stats", true);
            dbi_.events = lmdb::open_dbi(*counters_, "events", true);
            // Read every table's first page: damage at the root shows now.
            auto t = read_counters();
            for (MDB_dbi d : {dbi_.counters, dbi_.stats, dbi_.events}) {
                MDB_stat st{};
                int rc = mdb_stat(t.get(), d, &st);
                if (rc) lmdb::throw_error("mdb_stat", rc, dir);
                t.each(d, "", [](std::string_view, std::string_view) { return false; });
            }
            return;
        } catch (const lmdb::Failure& e) {
            if (!e.corrupt() || attempt > 0) throw;
            counters_.reset();
            char stamp[32];
            std::time_t tt = std::time(nullptr);
            std::tm tm{};
            gmtime_r(&tt, &tm);
            std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
            const std::string aside = dir + ".corrupt-" + stamp;
            std::error_code ec;
            std::filesystem::rename(dir, aside, ec);
            if (ec)
                throw Error(Exit::environment, "COUNTERS_CORRUPT",
                            "the counters environment " + dir + " is damaged (" + e.what() +
                                ") and could not be moved aside: " + ec.message() + "; move it away (mv " +
                                dir + " " + aside + ") and start again: it is recreated empty");
            counters_set_aside_ = aside;
            log_warning("counters environment " + dir + " was damaged (" + e.what() + "); moved it to " +
                        aside + " and created a new one: today's warmup counts and the stats restart at zero");
        }
    }
}

void Store::update_counters(const std::function<bool(lmdb::WriteTxn&)>& fn) {
    for (;;) {
        try {
            auto t = write_counters();
            if (fn(t)) t.commit();
            return;
        } catch (const lmdb::Failure& e) {
            if (e.rc() != MDB_MAP_FULL) throw;
            // The transaction is gone (aborted by its destructor): grow.
            if (!counters_->grow(counters_max_))
                throw lmdb::Failure(MDB_MAP_FULL, "the counters map is full at " +
                                                      std::to_string(counters_->map_size() >> 20) +
                                                      " MiB (store.counters_max_size); raise it, or let "
                                                      "the hourly pruning free old days");
            log_info("counters map grown to " + std::to_string(counters_->map_size() >> 20) + " MiB");
        }
    }
}

Store::Pruned Store::prune_counters(int64_t now, size_t max) {
    Pruned p;
    const std::string warmup_before = utc_day(now - 86400);
    const std::string stats_before = utc_day(now - stats_days_ * 86400);
    char ns[24];
    std::snprintf(ns, sizeof ns, "%020lld",
                  static_cast<long long>((now - events_days_ * 86400) * 1000000000LL));
    const std::string events_before = ns;
    // The day (or time) field of each key: warmup NUL domain NUL day,
    // domain NUL day NUL metric, domain NUL time.
    auto field = [](std::string_view key, int index) {
        for (int i = 0; i < index; ++i) {
            const size_t z = key.find('\0');
            if (z == std::string_view::npos) return std::string_view();
            key.remove_prefix(z + 1);
        }
        return key.substr(0, key.find('\0'));
    };
    for (;;) {
        size_t w = 0, sn = 0, st = 0, ev = 0;
        update_counters([&](lmdb::WriteTxn& t) {
            w = t.erase_if(dbi_.counters, std::string("warmup") + '\0', max,
                           [&](std::string_view k, std::string_view) { return field(k, 2) < warmup_before; });
            // outpost-trackd's first-open/first-click marks hold their day.
            sn = t.erase_if(dbi_.counters, std::string("seen") + '\0', max - w,
                            [&](std::string_view, std::string_view v) { return v < stats_before; });
            st = t.erase_if(dbi_.stats, "", max - w - sn,
                            [&](std::string_view k, std::string_view) { return field(k, 1) < stats_before; });
            ev = t.erase_if(dbi_.events, "", max - w - sn - st,
                            [&](std::string_view k, std::string_view) { return field(k, 1) < events_before; });
            return w + sn + st + ev > 0;
        });
        p.warmup += w + sn;
        p.stats += st;
        p.events += ev;
        const size_t n = w + sn + st + ev;
        if (n < max) return p;
    }
}

std::optional<Domain> Store::domain(const lmdb::Txn& t, const std::string& name) const {
    auto d = get_json<Domain>(t, dbi_.domains, name);
    if (d) d->selectors = all_json<Selector>(t, dbi_.selectors, name + '\0');
    return d;
}

std::vector<Domain> Store::domains(const lmdb::Txn& t) const {
    auto out = all_json<Domain>(t, dbi_.domains);
    for (auto& d : out) d.selectors = all_json<Selector>(t, dbi_.selectors, d.name + '\0');
    return out;
}

void Store::put(lmdb::WriteTxn& t, const Domain& d) {
    nlohmann::json j = d;
    j.erase("selectors");  // they live in their own table
    t.put(dbi_.domains, d.name, j.dump());
    // Replace the domain's selectors with the given list.
    std::vector<std::string> old;
    t.each(dbi_.selectors, d.name + '\0', [&](std::string_view k, std::string_view) {
        old.emplace_back(k);
        return true;
    });
    for (const auto& k : old) t.del(dbi_.selectors, k);
    for (const auto& s : d.selectors) t.put(dbi_.selectors, sep(d.name, s.name), nlohmann::json(s).dump());
}

std::optional<Tenant> Store::tenant(const lmdb::Txn& t, const std::string& name) const {
    return get_json<Tenant>(t, dbi_.tenants, name);
}
std::vector<Tenant> Store::tenants(const lmdb::Txn& t) const {
    return all_json<Tenant>(t, dbi_.tenants);
}
void Store::put(lmdb::WriteTxn& t, const Tenant& tenant) {
    t.put(dbi_.tenants, tenant.name, nlohmann::json(tenant).dump());
}
bool Store::remove_tenant(lmdb::WriteTxn& t, const std::string& name) {
    return t.del(dbi_.tenants, name);
}

std::optional<ApiKey> Store::key(const lmdb::Txn& t, const std::string& name) const {
    return get_json<ApiKey>(t, dbi_.keys, name);
}
std::optional<ApiKey> Store::key_by_hash(const lmdb::Txn& t, const std::string& hex) const {
    auto name = t.get(dbi_.key_hashes, hex);
    return name ? key(t, std::string(*name)) : std::nullopt;
}
std::optional<ApiKey> Store::key_by_sasl(const lmdb::Txn& t, const std::string& login) const {
    auto name = t.get(dbi_.key_sasl, login);
    return name ? key(t, std::string(*name)) : std::nullopt;
}
std::vector<ApiKey> Store::keys(const lmdb::Txn& t) const {
    return all_json<ApiKey>(t, dbi_.keys);
}
void Store::put(lmdb::WriteTxn& t, const ApiKey& k) {
    if (auto old = key(t, k.name)) {
        t.del(dbi_.key_hashes, old->secret_hash);
        if (!old->sasl.empty()) t.del(dbi_.key_sasl, old->sasl);
    }
    t.put(dbi_.keys, k.name, nlohmann::json(k).dump());
    t.put(dbi_.key_hashes, k.secret_hash, k.name);
    if (!k.sasl.empty()) t.put(dbi_.key_sasl, k.sasl, k.name);
}
bool Store::remove_key(lmdb::WriteTxn& t, const std::string& name) {
    auto old = key(t, name);
    if (!old) return false;
    t.del(dbi_.key_hashes, old->secret_hash);
    if (!old->sasl.empty()) t.del(dbi_.key_sasl, old->sasl);
    return t.del(dbi_.keys, name);
}

std::optional<nlohmann::json> Store::suppressed(const lmdb::Txn& t, const std::string& domain,
                                                const std::string& address) const {
    auto v = t.get(dbi_.suppression, sep(domain, address));
    if (!v) return std::nullopt;
    return nlohmann::json::parse(*v);
}
std::vector<std::pair<std::string, nlohmann::json>> Store::suppressions(const lmdb::Txn& t,
                                                                        const std::string& domain) const {
    std::vector<std::pair<std::string, nlohmann::json>> out;
    const std::string prefix = domain + '\0';
    t.each(dbi_.suppression, prefix, [&](std::string_view k, std::string_view v) {
        out.emplace_back(std::string(k.substr(prefix.size())), nlohmann::json::parse(v));
        return true;
    });
    return out;
}
void Store::suppress(lmdb::WriteTxn& t, const std::string& domain, const std::string& address,
                     const nlohmann::json& entry) {
    t.put(dbi_.suppression, sep(domain, address), entry.dump());
}
bool Store::unsuppress(lmdb::WriteTxn& t, const std::string& domain, const std::string& address) {
    return t.del(dbi_.suppression, sep(domain, address));
}

int64_t Store::counter(const lmdb::Txn& t, const std::string& key) const {
    auto v = t.get(dbi_.counters, key);
    return v ? std::stoll(std::string(*v)) : 0;
}
void Store::set_counter(lmdb::WriteTxn& t, const std::string& key, int64_t value) {
    t.put(dbi_.counters, key, std::to_string(value));
}
void Store::add_stat(lmdb::WriteTxn& t, const std::string& domain, const std::string& day,
                     const std::string& metric, int64_t n) {
    const std::string k = sep(sep(domain, day), metric);
    auto v = t.get(dbi_.stats, k);
    t.put(dbi_.stats, k, std::to_string((v ? std::stoll(std::string(*v)) : 0) + n));
}
int64_t Store::stat(const lmdb::Txn& t, const std::string& domain, const std::string& day,
                    const std::string& metric) const {
    auto v = t.get(dbi_.stats, sep(sep(domain, day), metric));
    return v ? std::stoll(std::string(*v)) : 0;
}
std::vector<std::pair<std::string, int64_t>> Store::day_stats(const lmdb::Txn& t, const std::string& domain,
                                                              const std::string& day) const {
    std::vector<std::pair<std::string, int64_t>> out;
    const std::string prefix = sep(domain, day) + '\0';
    t.each(dbi_.stats, prefix, [&](std::string_view k, std::string_view v) {
        out.emplace_back(std::string(k.substr(prefix.size())), std::stoll(std::string(v)));
        return true;
    });
    return out;
}

void Store::add_event(lmdb::WriteTxn& t, const std::string& domain, const nlohmann::json& event) {
    // Key: domain NUL nanoseconds (zero-padded so keys sort by time).
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    char buf[24];
    std::snprintf(buf, sizeof buf, "%020lld", static_cast<long long>(ns));
    t.put(dbi_.events, sep(domain, buf), event.dump());
}
std::vector<nlohmann::json> Store::events(const lmdb::Txn& t, const std::string& domain) const {
    std::vector<nlohmann::json> out;
    t.each(dbi_.events, domain + '\0', [&](std::string_view, std::string_view v) {
        out.push_back(nlohmann::json::parse(v));
        return true;
    });
    return out;
}

}  // namespace outpost
