// lmdb.cpp - RAII LMDB environment and transactions.
#include "store/lmdb.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <map>
#include <cstring>
#include <filesystem>
#include <memory>

namespace outpost::lmdb {

namespace {

// The registry of open environments (see lmdb.h): one Env per directory
// (device, inode). An entry whose Env is gone but not yet closed makes the
// next open of that file wait until the close is over.
struct Registry {
    std::mutex mutex;
    std::condition_variable closed;
    std::map<std::pair<dev_t, ino_t>, std::weak_ptr<Env>> open;
};
Registry& registry() {
    static Registry* r = new Registry;  // never destroyed: Envs may close at exit
    return *r;
}

}  // namespace

namespace {

using Cursor = std::unique_ptr<MDB_cursor, decltype(&mdb_cursor_close)>;

// A cursor on `dbi` put on the first key not before `prefix` (the first key
// when it is empty); `rc` is what that returned (MDB_NOTFOUND: none).
Cursor cursor_at(MDB_txn* txn, MDB_dbi dbi, std::string_view prefix, MDB_val& k, MDB_val& v, int& rc) {
    MDB_cursor* cur = nullptr;
    rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc) throw_error("mdb_cursor_open", rc);
    Cursor guard(cur, &mdb_cursor_close);
    k = MDB_val{prefix.size(), const_cast<char*>(prefix.data())};
    rc = mdb_cursor_get(cur, &k, &v, prefix.empty() ? MDB_FIRST : MDB_SET_RANGE);
    return guard;
}

}  // namespace

bool Failure::corrupt() const noexcept {
    return rc_ == MDB_CORRUPTED || rc_ == MDB_INVALID || rc_ == MDB_VERSION_MISMATCH ||
           rc_ == MDB_PAGE_NOTFOUND || rc_ == MDB_INCOMPATIBLE || rc_ == MDB_BAD_TXN;
}

void throw_error(const char* call, int rc, const std::string& context) {
    std::string msg = std::string(call) + " failed: " + mdb_strerror(rc);
    if (!context.empty()) msg += " (" + context + ")";
    if (rc == EACCES || rc == EROFS || rc == EPERM)
        msg += "; run as root or the outpost user, or point store.path at a writable directory";
    else if (rc == MDB_MAP_FULL)
        msg += "; the map is full (raise store.counters_max_size for the counters, or free disk space)";
    else if (rc == ENOSPC)
        msg += "; the file system is full: free space under store.path";
    throw Failure(rc, msg);
}

std::shared_ptr<Env> Env::open(const std::string& dir, unsigned flags, unsigned max_dbs,
                               size_t map_size, bool create) {
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
    Registry& reg = registry();
    std::unique_lock<std::mutex> lock(reg.mutex);
    const auto key = std::make_pair(st.st_dev, st.st_ino);
    for (;;) {
        auto it = reg.open.find(key);
        if (it == reg.open.end()) break;
        if (auto env = it->second.lock()) {
            if ((env->flags_ & MDB_RDONLY) && !(flags & MDB_RDONLY))
                throw Failure(EBUSY, "the store at " + dir +
                                         " is open read-only in this process and cannot be written");
            return env;
        }
        reg.closed.wait(lock);  // its last user is closing it
    }
    std::shared_ptr<Env> env(new Env(dir, flags, max_dbs, map_size));
    env->dev_ = st.st_dev;
    env->ino_ = st.st_ino;
    reg.open[key] = env;
    return env;
}

Env::Env(const std::string& dir, unsigned flags, unsigned max_dbs, size_t map_size)
    : path_(dir), flags_(flags) {
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
    Registry& reg = registry();
    std::lock_guard<std::mutex> lock(reg.mutex);
    if (env_) mdb_env_close(env_);
    auto it = reg.open.find({dev_, ino_});
    if (it != reg.open.end() && it->second.expired()) reg.open.erase(it);
    reg.closed.notify_all();
}

void Env::sync(bool force) {
    std::shared_lock<std::shared_timed_mutex> lock(resize_);
    int rc = mdb_env_sync(env_, force ? 1 : 0);
    if (rc) throw_error("mdb_env_sync", rc, path_);
}

size_t Env::map_size() const {
    MDB_envinfo info{};
    mdb_env_info(env_, &info);
    return info.me_mapsize;
}

bool Env::grow(size_t max_size) {
    std::unique_lock<std::shared_timed_mutex> lock(resize_, std::chrono::seconds(1));
    if (!lock.owns_lock()) return false;
    const size_t now = map_size();
    if (now >= max_size) return false;
    const size_t next = std::min(max_size, now * 2);
    return mdb_env_set_mapsize(env_, next) == 0 && map_size() > now;
}

MDB_dbi Env::dbi(const char* name, bool create) {
    std::lock_guard<std::mutex> guard(dbi_mutex_);
    std::shared_lock<std::shared_timed_mutex> lock(resize_);
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, create ? 0 : MDB_RDONLY, &txn);
    if (rc) throw_error("mdb_txn_begin", rc, path_);
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

Txn::Txn(const Env& env, unsigned flags) : lock_(env.resize_lock()) {
    for (int tries = 0;; ++tries) {
        int rc = mdb_txn_begin(env.get(), nullptr, flags, &txn_);
        if (rc == 0) return;
        txn_ = nullptr;
        if (rc != MDB_MAP_RESIZED || tries == 3) throw_error("mdb_txn_begin", rc, env.path());
        // Another process grew the map: adopt its size (no transaction of
        // this process may be open meanwhile), then begin again.
        lock_.unlock();
        {
            std::unique_lock<std::shared_timed_mutex> x(env.resize_lock(), std::chrono::seconds(1));
            if (x.owns_lock()) mdb_env_set_mapsize(env.get(), 0);
        }
        lock_.lock();
    }
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
    MDB_val k{}, v{};
    int rc = 0;
    const Cursor guard = cursor_at(txn_, dbi, prefix, k, v, rc);
    MDB_cursor* cur = guard.get();
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

size_t WriteTxn::erase_if(MDB_dbi dbi, std::string_view prefix, size_t max,
                          const std::function<bool(std::string_view, std::string_view)>& pred) {
    MDB_val k{}, v{};
    int rc = 0;
    const Cursor guard = cursor_at(txn_, dbi, prefix, k, v, rc);
    MDB_cursor* cur = guard.get();
    size_t n = 0;
    while (rc == 0 && n < max) {
        std::string_view key(static_cast<const char*>(k.mv_data), k.mv_size);
        if (key.substr(0, prefix.size()) != prefix) break;
        if (pred(key, std::string_view(static_cast<const char*>(v.mv_data), v.mv_size))) {
            rc = mdb_cursor_del(cur, 0);
            if (rc) throw_error("mdb_cursor_del", rc);
            ++n;
        }
        // After a delete the cursor stands on the next item, and MDB_NEXT
        // returns that one (LMDB's C_DEL), so one call serves both cases.
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc && rc != MDB_NOTFOUND) throw_error("mdb_cursor_get", rc);
    return n;
}

void WriteTxn::commit() {
    int rc = mdb_txn_commit(txn_);
    txn_ = nullptr;
    if (rc) throw_error("mdb_txn_commit", rc);
}

MDB_dbi open_dbi(Env& env, const char* name, bool create) {
    return env.dbi(name, create);
}

}  // namespace outpost::lmdb
