// test_store.cpp - the LMDB store: transactions, schema version, and two
// processes using it at once.
#define BOOST_TEST_MODULE store
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include "store/error.h"
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
