// store.h - outpost's state: one LMDB environment for the data model, one
// for hot-path counters, and a directory of DKIM private keys.
//
//   <store.path>/data.mdb      meta, domains, selectors, tenants, keys,
//                              key_hashes, key_sasl, suppression
//                              (durable: every commit is synced)
//   <store.path>/counters/     counters, stats, events: soft state (below)
//   <store.keys>/              DKIM private keys (see dkim_keys.h)
//
// Several processes use the store at once: outpostctl writes while the
// milter reads, and every read transaction sees the latest commit, so
// changes take effect without a reload. Open one Store per process and
// share it between threads; transactions are per use and short. Each
// environment is opened once per process however many Stores use it
// (lmdb::Env::open).
//
// The counters environment is soft state. It is written on every accepted
// message without fsync (MDB_NOSYNC; the milter syncs it once a second), so
// a crash of a process costs nothing and a crash of the machine can cost
// the counts of its last second or, if the kernel wrote the pages out of
// order, the environment itself: a counters environment found damaged when
// a Store opens it is moved aside (counters.corrupt-TIME) and recreated,
// with a log line; today's warmup counts and the stats restart from zero.
// Its map starts at 16 MiB and doubles when full, up to
// store.counters_max_size (update_counters); old days are pruned
// (prune_counters). Callers decide what a failed write means: the milter
// keeps sending for domains without a limit and fails closed (451) for
// warmup-limited ones.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "store/lmdb.h"
#include "store/model.h"

namespace outpost {

class Store {
public:
    static constexpr int kSchemaVersion = 1;
    enum class Mode { read_write, read_only };

    // read_write creates the directories and tables if missing. Throws
    // Error(environment) if the store cannot be opened or was written by a
    // newer schema.
    Store(const Config& cfg, Mode mode);

    lmdb::ReadTxn read() const { return lmdb::ReadTxn(*main_); }
    lmdb::WriteTxn write() { return lmdb::WriteTxn(*main_); }
    lmdb::ReadTxn read_counters() const { return lmdb::ReadTxn(*counters_); }
    lmdb::WriteTxn write_counters() { return lmdb::WriteTxn(*counters_); }
    // Runs `fn` in a counters write transaction and commits if it returns
    // true. A full map is grown (to store.counters_max_size) and `fn` run
    // again; past the limit, or on any other failure, lmdb::Failure.
    void update_counters(const std::function<bool(lmdb::WriteTxn&)>& fn);
    void sync_counters() { counters_->sync(true); }
    size_t counters_map_size() const { return counters_->map_size(); }
    const std::string& path() const { return path_; }
    // Where a damaged counters environment was moved when this Store opened
    // it ("" if it was sound).
    const std::string& counters_set_aside() const { return counters_set_aside_; }

    // Deletes warmup counters of days before yesterday, outpost-trackd's
    // first-open/click marks and stats older than
    // store.stats_days and events older than store.events_days (UTC days
    // before `now`), at most `max` keys per transaction until none is left.
    struct Pruned {
        size_t warmup = 0, stats = 0, events = 0;
    };
    Pruned prune_counters(int64_t now, size_t max = 5000);

    // Domains (with their selectors). Deleted domains are returned too;
    // callers decide what "not found" means for them.
    std::optional<Domain> domain(const lmdb::Txn& t, const std::string& name) const;
    std::vector<Domain> domains(const lmdb::Txn& t) const;
    void put(lmdb::WriteTxn& t, const Domain& d);

    std::optional<Tenant> tenant(const lmdb::Txn& t, const std::string& name) const;
    std::vector<Tenant> tenants(const lmdb::Txn& t) const;
    void put(lmdb::WriteTxn& t, const Tenant& tenant);
    bool remove_tenant(lmdb::WriteTxn& t, const std::string& name);

    std::optional<ApiKey> key(const lmdb::Txn& t, const std::string& name) const;
    std::optional<ApiKey> key_by_hash(const lmdb::Txn& t, const std::string& hex_hash) const;
    std::optional<ApiKey> key_by_sasl(const lmdb::Txn& t, const std::string& login) const;
    std::vector<ApiKey> keys(const lmdb::Txn& t) const;
    void put(lmdb::WriteTxn& t, const ApiKey& k);
    bool remove_key(lmdb::WriteTxn& t, const std::string& name);

    // Suppression: (domain, lower-cased address) -> {reason, source, at}.
    std::optional<nlohmann::json> suppressed(const lmdb::Txn& t, const std::string& domain,
                                             const std::string& address) const;
    std::vector<std::pair<std::string, nlohmann::json>> suppressions(const lmdb::Txn& t,
                                                                     const std::string& domain) const;
    void suppress(lmdb::WriteTxn& t, const std::string& domain, const std::string& address,
                  const nlohmann::json& entry);
    bool unsuppress(lmdb::WriteTxn& t, const std::string& domain, const std::string& address);

    // Counters env: integer counters keyed by text, and an event log.
    int64_t counter(const lmdb::Txn& t, const std::string& key) const;
    void set_counter(lmdb::WriteTxn& t, const std::string& key, int64_t value);
    void add_stat(lmdb::WriteTxn& t, const std::string& domain, const std::string& day,
                  const std::string& metric, int64_t n);
    int64_t stat(const lmdb::Txn& t, const std::string& domain, const std::string& day,
                 const std::string& metric) const;
    // Every metric of one domain on one day (store/stats.h names them).
    std::vector<std::pair<std::string, int64_t>> day_stats(const lmdb::Txn& t, const std::string& domain,
                                                           const std::string& day) const;
    void add_event(lmdb::WriteTxn& t, const std::string& domain, const nlohmann::json& event);
    std::vector<nlohmann::json> events(const lmdb::Txn& t, const std::string& domain) const;

    struct Dbis {
        MDB_dbi meta, domains, selectors, tenants, keys, key_hashes, key_sasl, suppression;
        MDB_dbi counters, stats, events;
    };
    const Dbis& dbi() const { return dbi_; }

private:
    void open_counters();
    std::string path_;
    size_t counters_max_ = 0;
    int64_t stats_days_ = 0, events_days_ = 0;
    std::string counters_set_aside_;
    std::shared_ptr<lmdb::Env> main_;
    std::shared_ptr<lmdb::Env> counters_;
    Dbis dbi_{};
};

// "YYYYMMDD" of a time (UTC).
std::string utc_day(int64_t epoch_seconds);

}  // namespace outpost
