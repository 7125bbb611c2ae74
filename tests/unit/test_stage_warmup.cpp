// test_stage_warmup.cpp - the warmup reservation is exact under concurrency:
// 60 threads, one recipient each, against 50 left -> exactly 50 reserved.
#define BOOST_TEST_MODULE stage_warmup
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <thread>

#include "milter/stages/warmup.h"
#include "store/warmup.h"
#include "testutil.h"

using namespace outpost;

BOOST_AUTO_TEST_CASE(sixty_threads_fifty_left) {
    test::TempDir dir;
    Config cfg = test::test_config(dir.path);
    { Store init(cfg, Store::Mode::read_write); }
    Store store(cfg, Store::Mode::read_only);  // as the milter opens it
    const int64_t now = now_seconds();
    // 10 already used today of a limit of 60: 50 left.
    BOOST_REQUIRE(milter::reserve_recipients(store, "example.com", now, 10, 60).ok);
    std::atomic<int> accepted{0}, refused{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < 60; ++i)
        threads.emplace_back([&] {
            while (!go.load()) std::this_thread::yield();
            if (milter::reserve_recipients(store, "example.com", now, 1, 60).ok)
                ++accepted;
            else
                ++refused;
        });
    go = true;
    for (auto& t : threads) t.join();
    BOOST_TEST(accepted.load() == 50);
    BOOST_TEST(refused.load() == 10);
    auto t = store.read_counters();
    BOOST_TEST(store.counter(t, warmup_counter_key("example.com", now)) == 60);
    BOOST_TEST(store.stat(t, "example.com", utc_day(now), "sent") == 60);
}

BOOST_AUTO_TEST_CASE(two_processes_share_the_count) {
    test::TempDir dir;
    Config cfg = test::test_config(dir.path);
    { Store init(cfg, Store::Mode::read_write); }
    const int64_t now = now_seconds();
    // Two processes, 30 threads each, against a limit of 50.
    std::vector<pid_t> kids;
    for (int p = 0; p < 2; ++p) {
        pid_t pid = ::fork();
        if (pid == 0) {
            int ok = 0;
            {
                Store store(cfg, Store::Mode::read_only);
                std::atomic<int> n{0};
                std::vector<std::thread> threads;
                for (int i = 0; i < 30; ++i)
                    threads.emplace_back([&] {
                        if (milter::reserve_recipients(store, "example.com", now, 1, 50).ok) ++n;
                    });
                for (auto& t : threads) t.join();
                ok = n.load();
            }
            ::_exit(ok);
        }
        kids.push_back(pid);
    }
    int total = 0;
    for (pid_t k : kids) {
        int st = 0;
        ::waitpid(k, &st, 0);
        total += WEXITSTATUS(st);
    }
    BOOST_TEST(total == 50);
}

BOOST_AUTO_TEST_CASE(refund_and_daily_reset) {
    test::TempDir dir;
    Config cfg = test::test_config(dir.path);
    Store store(cfg, Store::Mode::read_write);
    const int64_t now = 1795305600;  // 00:00:00 UTC
    BOOST_TEST(milter::reserve_recipients(store, "example.com", now, 5, 5).ok);
    auto r = milter::reserve_recipients(store, "example.com", now + 86399, 1, 5);
    BOOST_TEST(!r.ok);
    BOOST_TEST(r.used == 5);
    milter::refund_recipients(store, "example.com", now, 2);
    BOOST_TEST(milter::reserve_recipients(store, "example.com", now, 2, 5).ok);
    BOOST_TEST(milter::reserve_recipients(store, "example.com", now + 86400, 5, 5).ok);  // next UTC day
    BOOST_TEST(milter::reserve_recipients(store, "example.com", now, 1000, -1).ok);      // no limit: counted
}
