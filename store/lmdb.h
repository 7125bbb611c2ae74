// lmdb.h - a thin RAII layer over LMDB.
//
// Lifetimes and threading, after lmdb.h's own notes:
//  - An environment is opened at most once per process: lmdb.h forbids a
//    second mdb_env_open of the same file in one process (closing either
//    handle drops the other's POSIX locks). Env::open keeps a registry keyed
//    by the directory's device and inode and hands out the open Env to every
//    caller (a reloaded milter's new Store, a test's second Store); a closed
//    Env leaves the registry before the next open of that file may start.
//    Env is opened with MDB_NOTLS, so a read transaction belongs to the
//    object, not to the thread (milter threads share an Env).
//  - The map can grow while the process runs: every transaction holds the
//    Env's resize lock shared; grow() takes it exclusively (LMDB allows
//    mdb_env_set_mapsize only with no transaction active in the process),
//    and gives up after a second rather than wait on a long reader. A map
//    grown by another process (MDB_MAP_RESIZED) is adopted at the next
//    transaction begin.
//  - ReadTxn and WriteTxn are move-only; their destructor aborts; a WriteTxn
//    must be commit()ed to keep its changes. Keep both short: a read
//    transaction held open pins old pages and never sees later commits.
//  - Only one WriteTxn runs at a time across every process using the Env
//    (LMDB's writer lock); readers never block it.
//  - get() returns std::nullopt for MDB_NOTFOUND; every other LMDB error
//    throws lmdb::Failure (an outpost::Error(Exit::environment,
//    "STORE_ERROR") naming the call, with LMDB's code in rc()).
//  - A string_view from get() or each() is valid until the transaction ends.
#pragma once

#include <lmdb.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "base/error.h"

namespace outpost::lmdb {

class Failure : public Error {
public:
    Failure(int rc, const std::string& message) : Error(Exit::environment, "STORE_ERROR", message), rc_(rc) {}
    int rc() const noexcept { return rc_; }
    // The environment's file is damaged or not an LMDB file of this version.
    bool corrupt() const noexcept;

private:
    int rc_;
};

[[noreturn]] void throw_error(const char* call, int rc, const std::string& context = "");

class Env {
public:
    // The process's one Env for `dir` (creating the directory if `create`),
    // opened now with `flags` (extra mdb_env_open flags: MDB_RDONLY,
    // MDB_NOSYNC) if it is not open yet. An Env already open read-only
    // cannot serve a read-write request (Failure, EBUSY).
    static std::shared_ptr<Env> open(const std::string& dir, unsigned flags, unsigned max_dbs,
                                     size_t map_size, bool create);
    ~Env();
    Env(const Env&) = delete;
    Env& operator=(const Env&) = delete;

    MDB_env* get() const noexcept { return env_; }
    const std::string& path() const noexcept { return path_; }
    void sync(bool force);
    size_t map_size() const;
    // Doubles the map, to at most `max_size`. False if it is there already,
    // or if transactions of this process stayed open for a second.
    bool grow(size_t max_size);

    // Every transaction holds this shared while it lives (see above).
    std::shared_timed_mutex& resize_lock() const noexcept { return resize_; }
    // Opens a named database once per Env (mdb_dbi_open is not to run in
    // two transactions at once).
    MDB_dbi dbi(const char* name, bool create);

private:
    Env(const std::string& dir, unsigned flags, unsigned max_dbs, size_t map_size);
    MDB_env* env_ = nullptr;
    std::string path_;
    unsigned flags_ = 0;
    dev_t dev_ = 0;
    ino_t ino_ = 0;
    mutable std::shared_timed_mutex resize_;
    std::mutex dbi_mutex_;
};

class Txn {
public:
    Txn(Txn&& o) noexcept : lock_(std::move(o.lock_)), txn_(o.txn_) { o.txn_ = nullptr; }
    Txn& operator=(Txn&&) = delete;
    Txn(const Txn&) = delete;
    ~Txn() { abort(); }

    std::optional<std::string_view> get(MDB_dbi dbi, std::string_view key) const;
    // Visits keys starting with `prefix` in order; `fn` returns false to stop.
    void each(MDB_dbi dbi, std::string_view prefix,
              const std::function<bool(std::string_view key, std::string_view val)>& fn) const;
    MDB_txn* get() const noexcept { return txn_; }
    void abort() noexcept {
        if (txn_) mdb_txn_abort(txn_);
        txn_ = nullptr;
        if (lock_.owns_lock()) lock_.unlock();
    }

protected:
    Txn(const Env& env, unsigned flags);
    std::shared_lock<std::shared_timed_mutex> lock_;
    MDB_txn* txn_ = nullptr;
};

class ReadTxn : public Txn {
public:
    explicit ReadTxn(const Env& env) : Txn(env, MDB_RDONLY) {}
};

class WriteTxn : public Txn {
public:
    explicit WriteTxn(const Env& env) : Txn(env, 0) {}
    void put(MDB_dbi dbi, std::string_view key, std::string_view val);
    // Returns false if the key was absent.
    bool del(MDB_dbi dbi, std::string_view key);
    // Deletes up to `max` keys starting with `prefix` for which `pred` is
    // true; returns how many.
    size_t erase_if(MDB_dbi dbi, std::string_view prefix, size_t max,
                    const std::function<bool(std::string_view key, std::string_view val)>& pred);
    void commit();
};

// Opens (creating if asked) a named database: Env::dbi.
MDB_dbi open_dbi(Env& env, const char* name, bool create);

}  // namespace outpost::lmdb
