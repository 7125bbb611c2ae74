// test_store.cpp - the LMDB store: transactions, schema version, and two
// processes using it at once.
#define BOOST_TEST_MODULE store
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "store/store.h"
#include "testutil.h"

using namespace outpost;

BOOST_AUTO_TEST_CASE(not_found_is_a_value_and_uncommitted_writes_vanish) {
    test::TempDir dir;
    Config cfg = test::test_config(dir.path);
    Store s(cfg, Store::Mode::read_write);
    {
        auto t = s.read();
        BOOST_TEST(!s.domain(t, "example.com").has_value());
    }
    {
        auto t = s.write();
        Domain d;
        d.name = "example.com";
        s.put(t, d);
        // destroyed without commit: aborted
    }
    {
        auto t = s.read();
        BOOST_TEST(!s.domain(t, "example.com").has_value());
    }
    {
        auto t = s.write();
        Domain d;
        d.name = "example.com";
        d.selectors.push_back(
            Selector{"s1", KeyAlgorithm::rsa, 2048, SelectorState::active, "AAAA", 1, 2, 0});
        s.put(t, d);
        t.commit();
    }
    auto t = s.read();
    auto d = s.domain(t, "example.com");
    BOOST_REQUIRE(d.has_value());
    BOOST_TEST(d->selectors.size() == 1u);
    BOOST_TEST(d->selectors[0].name == "s1");
    BOOST_TEST(d->signing_selectors().size() == 1u);
}

BOOST_AUTO_TEST_CASE(transactions_are_move_only_raii) {
    static_assert(!std::is_copy_constructible_v<lmdb::ReadTxn>);
    static_assert(!std::is_copy_constructible_v<lmdb::WriteTxn>);
    static_assert(std::is_move_constructible_v<lmdb::WriteTxn>);
    test::TempDir dir;
    Config cfg = test::test_config(dir.path);
    Store s(cfg, Store::Mode::read_write);
    auto t1 = s.write_counters();
    s.set_counter(t1, "k", 7);
    auto moved = std::move(t1);  // the moved-from handle no longer owns the transaction
    moved.commit();
    auto r = s.read_counters();
    BOOST_TEST(s.counter(r, "k") == 7);
}

BOOST_AUTO_TEST_CASE(a_store_from_a_newer_schema_is_refused) {
    test::TempDir dir;
    Config cfg = test::test_config(dir.path);
    {
        Store s(cfg, Store::Mode::read_write);
        auto t = s.write();
        t.put(s.dbi().meta, "schema_version", std::to_string(Store::kSchemaVersion + 1));
        t.commit();
    }
    try {
        Store s(cfg, Store::Mode::read_write);
        BOOST_FAIL("opened a store of a newer schema");
    } catch (const Error& e) {
        BOOST_TEST(e.token() == "STORE_SCHEMA_NEWER");
        BOOST_TEST(std::string(e.what()).find("upgrade outpost") != std::string::npos);
        BOOST_TEST(e.status() == Exit::environment);
    }
}

BOOST_AUTO_TEST_CASE(an_unwritable_store_path_is_a_clear_error) {
    test::TempDir dir;
    test::write_file(dir.path + "/afile", "x");
    Config cfg = test::test_config(dir.path);
    cfg.store.path = dir.path + "/afile/store";  // parent is a regular file
    try {
        Store s(cfg, Store::Mode::read_write);
        BOOST_FAIL("opened a store under a regular file");
    } catch (const Error& e) {
        BOOST_TEST(e.token() == "STORE_ERROR");
        BOOST_TEST(std::string(e.what()).find("afile/store") != std::string::npos, e.what());
    }
}

// Two processes increment one counter and add domains at once; LMDB's
// writer lock must make every increment count and every domain land.
BOOST_AUTO_TEST_CASE(two_processes_share_the_store) {
    test::TempDir dir;
    Config cfg = test::test_config(dir.path);
    { Store init(cfg, Store::Mode::read_write); }
    constexpr int kEach = 500;
    auto work = [&](const std::string& who) {
        Store s(cfg, Store::Mode::read_write);
        for (int i = 0; i < kEach; ++i) {
            {
                auto t = s.write_counters();
                s.set_counter(t, "shared", s.counter(t, "shared") + 1);
                t.commit();
            }
            if (i % 50 == 0) {
                auto t = s.write();
                Domain d;
                d.name = who + std::to_string(i) + ".example";
                s.put(t, d);
                t.commit();
            }
            // A reader in the same process sees the other's commits without reopening.
            auto r = s.read();
            (void)s.domains(r);
        }
    };
    pid_t child = ::fork();
    if (child == 0) {
        try {
            work("child");
        } catch (...) {
            ::_exit(1);
        }
        ::_exit(0);
    }
    work("parent");
    int st = 0;
    ::waitpid(child, &st, 0);
    BOOST_REQUIRE(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    Store s(cfg, Store::Mode::read_write);
    auto t = s.read_counters();
    BOOST_TEST(s.counter(t, "shared") == 2 * kEach);
    auto r = s.read();
    BOOST_TEST(s.domains(r).size() == 2u * (kEach / 50));
}

BOOST_AUTO_TEST_CASE(suppression_and_events_round_trip) {
    test::TempDir dir;
    Config cfg = test::test_config(dir.path);
    Store s(cfg, Store::Mode::read_write);
    {
        auto t = s.write();
        s.suppress(t, "example.com", "a@x.test", {{"reason", "bounce"}});
        s.suppress(t, "example.org", "a@x.test", {{"reason", "manual"}});
        t.commit();
    }
    {
        auto t = s.read();
        BOOST_TEST(s.suppressed(t, "example.com", "a@x.test").has_value());
        BOOST_TEST(!s.suppressed(t, "example.com", "b@x.test").has_value());
        // A prefix of another domain's name does not leak into its list.
        BOOST_TEST(s.suppressions(t, "example.co").empty());
        BOOST_TEST(s.suppressions(t, "example.com").size() == 1u);
    }
    auto w = s.write_counters();
    s.add_event(w, "example.com", {{"type", "a"}});
    s.add_event(w, "example.com", {{"type", "b"}});
    w.commit();
    auto t = s.read_counters();
    auto ev = s.events(t, "example.com");
    BOOST_REQUIRE(ev.size() == 2u);
    BOOST_TEST(ev[0]["type"] == "a");
    BOOST_TEST(ev[1]["type"] == "b");
}

BOOST_AUTO_TEST_CASE(store_files_are_group_writable_whatever_the_umask) {
    // outpost-web (group outpost) writes the store and the counters: their
    // files are 0660 even when outpostctl created them as root (umask 022).
    test::TempDir dir;
    Config cfg = test::test_config(dir.path);
    const mode_t old = ::umask(022);
    { Store s(cfg, Store::Mode::read_write); }
    for (const std::string f : {"/data.mdb", "/lock.mdb", "/counters/data.mdb", "/counters/lock.mdb"}) {
        struct stat st {};
        BOOST_REQUIRE(::stat((cfg.store.path + f).c_str(), &st) == 0);
        BOOST_TEST((st.st_mode & 0777) == 0660u, f << ": " << std::oct << (st.st_mode & 0777));
    }
    // A store whose files lost the group bits gets them back at the next open.
    ::chmod((cfg.store.path + "/data.mdb").c_str(), 0600);
    { Store s(cfg, Store::Mode::read_write); }
    struct stat st {};
    ::stat((cfg.store.path + "/data.mdb").c_str(), &st);
    BOOST_TEST((st.st_mode & 0777) == 0660u);
    ::umask(old);
}

// lmdb.h forbids opening one environment twice in a process: every open of
// the same directory gets the one Env while it lives; a read-only Env is not
// handed out for writing; once the last user lets go, a new open starts over.
BOOST_AUTO_TEST_CASE(an_environment_is_opened_once_per_process) {
    test::TempDir dir;
    const std::string path = dir.path + "/env";
    auto a = lmdb::Env::open(path, 0, 4, 1 << 20, true);
    auto b = lmdb::Env::open(path + "/", 0, 4, 1 << 20, true);  // another spelling of the same directory
    BOOST_TEST(a.get() == b.get());
    BOOST_TEST(a.use_count() == 2);
    b.reset();
    a.reset();
    auto ro = lmdb::Env::open(path, MDB_RDONLY, 4, 1 << 20, false);
    try {
        lmdb::Env::open(path, 0, 4, 1 << 20, true);
        BOOST_FAIL("a read-only environment was handed out for writing");
    } catch (const lmdb::Failure& e) {
        BOOST_TEST(e.rc() == EBUSY);
        BOOST_TEST(std::string(e.what()).find("read-only") != std::string::npos, e.what());
    }
    ro.reset();
    auto rw = lmdb::Env::open(path, 0, 4, 1 << 20, true);
    BOOST_TEST(rw.use_count() == 1);

    // Two Stores in one process: closing the first leaves the second working
    // (with two opens of the file, closing one would drop the other's locks).
    Config cfg = test::test_config(dir.path);
    auto s1 = std::make_unique<Store>(cfg, Store::Mode::read_write);
    Store s2(cfg, Store::Mode::read_write);
    s1.reset();
    s2.update_counters([&](lmdb::WriteTxn& t) {
        s2.set_counter(t, "k", 3);
        return true;
    });
    auto t = s2.read_counters();
    BOOST_TEST(s2.counter(t, "k") == 3);
}

// The counters map starts small and doubles when full, up to
// store.counters_max_size; past it a write fails with MDB_MAP_FULL and a
// message that names the setting, and what was written stays readable.
BOOST_AUTO_TEST_CASE(the_counters_map_grows_to_its_limit_and_no_further) {
    test::TempDir dir;
    Config cfg = test::test_config(dir.path);
    cfg.store.counters_max_size = 40'000'000;
    Store s(cfg, Store::Mode::read_write);
    BOOST_TEST(s.counters_map_size() == size_t(16) << 20);
    const std::string value(256 * 1024, 'x');
    int written = 0;
    try {
        for (; written < 400; ++written)  // 100 MB if nothing stopped it
            s.update_counters([&](lmdb::WriteTxn& t) {
                t.put(s.dbi().counters, "fill" + std::to_string(written), value);
                return true;
            });
        BOOST_FAIL("400 writes of 256 KiB fitted in a map of at most 40 MB");
    } catch (const lmdb::Failure& e) {
        BOOST_TEST(e.rc() == MDB_MAP_FULL);
        BOOST_TEST(std::string(e.what()).find("store.counters_max_size") != std::string::npos, e.what());
    }
    BOOST_TEST(s.counters_map_size() > size_t(32) << 20);  // grew twice: 16 -> 32 -> 40 MB
    BOOST_TEST(s.counters_map_size() <= size_t(40) * 1000 * 1000 + (size_t(1) << 20));
    BOOST_TEST(written > 100);  // more than the first 16 MiB held
    auto t = s.read_counters();
    BOOST_TEST(t.get(s.dbi().counters, "fill0").has_value());
    BOOST_TEST(t.get(s.dbi().counters, "fill" + std::to_string(written - 1)).has_value());
}

// A second process that grew the map: this one adopts the new size at its
// next transaction (MDB_MAP_RESIZED) instead of failing.
BOOST_AUTO_TEST_CASE(a_map_grown_by_another_process_is_adopted) {
    test::TempDir dir;
    Config cfg = test::test_config(dir.path);
    cfg.store.counters_max_size = 64 << 20;
    Store s(cfg, Store::Mode::read_write);
    { auto t = s.read_counters(); }
    const pid_t pid = ::fork();
    if (pid == 0) {
        int rc = 1;
        try {
            Store other(cfg, Store::Mode::read_write);
            const std::string value(256 * 1024, 'y');
            for (int i = 0; i < 100; ++i)  // 25 MB: beyond the first 16 MiB
                other.update_counters([&](lmdb::WriteTxn& t) {
                    t.put(other.dbi().counters, "other" + std::to_string(i), value);
                    return true;
                });
            rc = other.counters_map_size() > (size_t(16) << 20) ? 0 : 2;
        } catch (...) {
        }
        ::_exit(rc);
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    BOOST_REQUIRE(WIFEXITED(st));
    BOOST_REQUIRE(WEXITSTATUS(st) == 0);
    s.update_counters([&](lmdb::WriteTxn& t) {
        s.set_counter(t, "after", 1);
        return true;
    });
    auto t = s.read_counters();
    BOOST_TEST(t.get(s.dbi().counters, "other99").has_value());
    BOOST_TEST(s.counter(t, "after") == 1);
}

// Old days go: warmup counts before yesterday, trackd's first-open marks and
// stats older than store.stats_days, events older than store.events_days.
BOOST_AUTO_TEST_CASE(old_days_of_counters_are_pruned) {
    test::TempDir dir;
    Config cfg = test::test_config(dir.path);
    cfg.store.stats_days = 30;
    cfg.store.events_days = 7;
    Store s(cfg, Store::Mode::read_write);
    const int64_t now = 1795305600 + 12 * 3600;  // noon UTC
    const int64_t day = 86400;
    s.update_counters([&](lmdb::WriteTxn& t) {
        for (int64_t d : {0, 1, 2, 40})
            s.set_counter(t, "warmup" + std::string(1, '\0') + "example.com" + '\0' + utc_day(now - d * day), 5);
        for (int64_t d : {0, 29, 31, 365}) s.add_stat(t, "example.com", utc_day(now - d * day), "sent", 1);
        s.set_counter(t, std::string("seen") + '\0' + "recent", std::stoll(utc_day(now - 2 * day)));
        s.set_counter(t, std::string("seen") + '\0' + "old", std::stoll(utc_day(now - 60 * day)));
        s.set_counter(t, "unrelated", 9);
        return true;
    });
    // Events carry their time in the key: write two, then look from 8 days on.
    s.update_counters([&](lmdb::WriteTxn& t) {
        s.add_event(t, "example.com", {{"type", "old"}});
        return true;
    });
    const int64_t later = now_seconds() + 8 * day;
    s.update_counters([&](lmdb::WriteTxn& t) {
        s.add_event(t, "example.com", {{"type", "new"}});  // written now: within 7 days of `later`
        return true;
    });
    auto p = s.prune_counters(now, 2);  // two keys per transaction: several rounds
    BOOST_TEST(p.warmup == 3u);         // 2 and 40 days ago, and the 60-day-old mark
    BOOST_TEST(p.stats == 2u);          // 31 and 365 days ago
    auto t = s.read_counters();
    auto warm = [&](int64_t d) {
        return s.counter(t, "warmup" + std::string(1, '\0') + "example.com" + '\0' + utc_day(now - d * day));
    };
    BOOST_TEST(warm(0) == 5);
    BOOST_TEST(warm(1) == 5);
    BOOST_TEST(warm(2) == 0);
    BOOST_TEST(s.stat(t, "example.com", utc_day(now - 29 * day), "sent") == 1);
    BOOST_TEST(s.stat(t, "example.com", utc_day(now - 31 * day), "sent") == 0);
    BOOST_TEST(s.counter(t, std::string("seen") + '\0' + "recent") != 0);
    BOOST_TEST(s.counter(t, "unrelated") == 9);
    t.abort();
    BOOST_TEST(s.events(s.read_counters(), "example.com").size() == 2u);
    // Both events were written this second: 8 days later both are past
    // store.events_days.
    auto q = s.prune_counters(later);
    BOOST_TEST(q.events == 2u);
    BOOST_TEST(s.events(s.read_counters(), "example.com").empty());
}

// A damaged counters environment (after a power loss under MDB_NOSYNC) is
// moved aside and recreated when the store opens, with a log line; the
// main environment, which holds the domains, is untouched.
BOOST_AUTO_TEST_CASE(a_damaged_counters_environment_is_set_aside_and_recreated) {
    test::TempDir dir;
    Config cfg = test::test_config(dir.path);
    {
        Store s(cfg, Store::Mode::read_write);
        auto t = s.write();
        t.put(s.dbi().tenants, "acme", "{}");
        t.commit();
        s.update_counters([&](lmdb::WriteTxn& w) {
            s.set_counter(w, "k", 7);
            return true;
        });
    }
    {
        // Overwrite both meta pages and the first data page with garbage.
        std::fstream f(cfg.store.path + "/counters/data.mdb", std::ios::in | std::ios::out | std::ios::binary);
        const std::string junk(3 * 4096, '\x5a');
        f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    {
        Store s(cfg, Store::Mode::read_write);
        const std::string aside = s.counters_set_aside();
    BOOST_TEST(aside.find(cfg.store.path + "/counters.corrupt-") == 0u, aside);
        BOOST_TEST(std::filesystem::exists(aside + "/data.mdb"));
        auto c = s.read_counters();
        BOOST_TEST(s.counter(c, "k") == 0);  // soft state: restarted from zero
        auto t = s.read();
        BOOST_TEST(t.get(s.dbi().tenants, "acme").has_value());
    }
    // A sound environment is not moved.
    Store again(cfg, Store::Mode::read_write);
    BOOST_TEST(again.counters_set_aside().empty());
}
