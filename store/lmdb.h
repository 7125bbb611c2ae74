// lmdb.h - a thin RAII layer over LMDB.
//
// Lifetimes and threading, after lmdb.h's own notes:
//  - Env is opened once per process with MDB_NOTLS, so a read transaction
//    belongs to the object, not to the thread (milter threads share an Env).
//  - ReadTxn and WriteTxn are move-only; their destructor aborts; a WriteTxn
//    must be commit()ed to keep its changes. Keep both short: a read
//    transaction held open pins old pages and never sees later commits.
//  - Only one WriteTxn runs at a time across every process using the Env
//    (LMDB's writer lock); readers never block it.
//  - get() returns std::nullopt for MDB_NOTFOUND; every other LMDB error
//    throws outpost::Error(Exit::environment, "STORE_ERROR") naming the call.
//  - A string_view from get() or each() is valid until the transaction ends.
#pragma once

#include <lmdb.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "store/error.h"

namespace outpost::lmdb {

[[noreturn]] void throw_error(const char* call, int rc, const std::string& context = "");

class Env {
public:
    // Opens (creating the directory if `create`) an environment at `dir`.
    // `flags` are extra mdb_env_open flags (MDB_NOSYNC for the counters env).
    Env(const std::string& dir, unsigned flags, unsigned max_dbs, size_t map_size, bool create);
    ~Env();
    Env(const Env&) = delete;
    Env& operator=(const Env&) = delete;

    MDB_env* get() const noexcept { return env_; }
    const std::string& path() const noexcept { return path_; }
    void sync(bool force);

private:
    MDB_env* env_ = nullptr;
    std::string path_;
};

class Txn {
public:
    Txn(Txn&& o) noexcept : txn_(o.txn_) { o.txn_ = nullptr; }
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
    }

protected:
    Txn(MDB_env* env, unsigned flags);
    MDB_txn* txn_ = nullptr;
};

class ReadTxn : public Txn {
public:
    explicit ReadTxn(const Env& env) : Txn(env.get(), MDB_RDONLY) {}
};

class WriteTxn : public Txn {
public:
    explicit WriteTxn(const Env& env) : Txn(env.get(), 0) {}
    void put(MDB_dbi dbi, std::string_view key, std::string_view val);
    // Returns false if the key was absent.
    bool del(MDB_dbi dbi, std::string_view key);
    void commit();
};

// Opens (creating if asked) a named database; needs a write transaction
// the first time, which this function runs itself.
MDB_dbi open_dbi(const Env& env, const char* name, bool create);

}  // namespace outpost::lmdb
