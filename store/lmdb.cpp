// lmdb.cpp - RAII LMDB environment and transactions.
#include "store/lmdb.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

namespace outpost::lmdb {

void throw_error(const char* call, int rc, const std::string& context) {
    std::string msg = std::string(call) + " failed: " + mdb_strerror(rc);
    if (!context.empty()) msg += " (" + context + ")";
    if (rc == EACCES || rc == EROFS || rc == EPERM)
        msg += "; run as root or the outpost user, or point store.path at a writable directory";
    else if (rc == MDB_MAP_FULL)
        msg += "; the store map is full";
    throw Error(Exit::environment, "STORE_ERROR", msg);
}

Env::Env(const std::string& dir, unsigned flags, unsigned max_dbs, size_t map_size, bool create)
    : path_(dir) {
    if (create) {
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        if (ec)
            throw Error(Exit::environment, "STORE_ERROR",
                        "cannot create store directory " + dir + ": " + ec.message() +
                            "; create it, or set store.path to a writable directory");
    }
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0)
        throw Error(Exit::environment, "STORE_ERROR",
                    "no store at " + dir + "; add a domain with outpostctl first, or set store.path");
    int rc = mdb_env_create(&env_);
    if (rc) throw_error("mdb_env_create", rc, dir);
    mdb_env_set_maxdbs(env_, max_dbs);
    mdb_env_set_mapsize(env_, map_size);
    mdb_env_set_maxreaders(env_, 512);
    rc = mdb_env_open(env_, dir.c_str(), flags | MDB_NOTLS, 0660);
    if (rc) {
        mdb_env_close(env_);
        env_ = nullptr;
        throw_error("mdb_env_open", rc, dir);
    }
    // The environment's files are shared by the group (outpost-web, in group
    // outpost, writes opens, clicks and unsubscribes): mode 0660 whatever
    // the umask of the process that created them (outpostctl run as root
    // has 022). Only the owner (or root) can change it; others leave it.
    for (const char* name : {"/data.mdb", "/lock.mdb"}) {
        const std::string file = dir + name;
        struct stat fs {};
        if (::stat(file.c_str(), &fs) == 0 && (fs.st_mode & 0060) != 0060 &&
            (fs.st_uid == ::geteuid() || ::geteuid() == 0))
            (void)::chmod(file.c_str(), (fs.st_mode & 07777) | 0060);
    }
    // Reader slots left by a process that died inside a read transaction (a
    // milter killed with SIGKILL) pin old pages until cleared: clear them.
    int dead = 0;
    mdb_reader_check(env_, &dead);
}

Env::~Env() {
    if (env_) mdb_env_close(env_);
}

void Env::sync(bool force) {
    int rc = mdb_env_sync(env_, force ? 1 : 0);
    if (rc) throw_error("mdb_env_sync", rc, path_);
}

Txn::Txn(MDB_env* env, unsigned flags) {
    int rc = mdb_txn_begin(env, nullptr, flags, &txn_);
    if (rc) throw_error("mdb_txn_begin", rc);
}

std::optional<std::string_view> Txn::get(MDB_dbi dbi, std::string_view key) const {
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{};
    int rc = mdb_get(txn_, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    if (rc) throw_error("mdb_get", rc, std::string(key));
    return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

void Txn::each(MDB_dbi dbi, std::string_view prefix,
               const std::function<bool(std::string_view, std::string_view)>& fn) const {
    MDB_cursor* cur = nullptr;
    int rc = mdb_cursor_open(txn_, dbi, &cur);
    if (rc) throw_error("mdb_cursor_open", rc);
    std::unique_ptr<MDB_cursor, decltype(&mdb_cursor_close)> guard(cur, &mdb_cursor_close);
    MDB_val k{prefix.size(), const_cast<char*>(prefix.data())};
    MDB_val v{};
    rc = mdb_cursor_get(cur, &k, &v, prefix.empty() ? MDB_FIRST : MDB_SET_RANGE);
    while (rc == 0) {
        std::string_view key(static_cast<const char*>(k.mv_data), k.mv_size);
        if (key.substr(0, prefix.size()) != prefix) break;
        if (!fn(key, std::string_view(static_cast<const char*>(v.mv_data), v.mv_size))) return;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc && rc != MDB_NOTFOUND) throw_error("mdb_cursor_get", rc);
}

void WriteTxn::put(MDB_dbi dbi, std::string_view key, std::string_view val) {
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{val.size(), const_cast<char*>(val.data())};
    int rc = mdb_put(txn_, dbi, &k, &v, 0);
    if (rc) throw_error("mdb_put", rc, std::string(key));
}

bool WriteTxn::del(MDB_dbi dbi, std::string_view key) {
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    int rc = mdb_del(txn_, dbi, &k, nullptr);
    if (rc == MDB_NOTFOUND) return false;
    if (rc) throw_error("mdb_del", rc, std::string(key));
    return true;
}

void WriteTxn::commit() {
    int rc = mdb_txn_commit(txn_);
    txn_ = nullptr;
    if (rc) throw_error("mdb_txn_commit", rc);
}

MDB_dbi open_dbi(const Env& env, const char* name, bool create) {
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env.get(), nullptr, create ? 0 : MDB_RDONLY, &txn);
    if (rc) throw_error("mdb_txn_begin", rc, env.path());
    MDB_dbi dbi = 0;
    rc = mdb_dbi_open(txn, name, create ? MDB_CREATE : 0, &dbi);
    if (rc) {
        mdb_txn_abort(txn);
        throw_error("mdb_dbi_open", rc, name);
    }
    rc = mdb_txn_commit(txn);
    if (rc) throw_error("mdb_txn_commit", rc, name);
    return dbi;
}

}  // namespace outpost::lmdb
