// test_daemon.cpp - outpost-milter's daemon (milter/daemon.h) without
// libmilter: reloads (applied, refused and counted, recovered), the signals
// as libmilter's signal thread sees them through the program's sigwait(3)
// (milter/libmilter_hooks.h), the drain and its three ends, the wake-up
// connection, and the maintenance tick.
#define BOOST_TEST_MODULE daemon
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "milter/callbacks.h"
#include "milter/daemon.h"
#include "milter/latency.h"
#include "milter_fixture.h"

using namespace outpost;
using namespace outpost::milter;
using namespace std::chrono_literals;

namespace {

// libmilter's signal thread waits for these with every other thread
// blocking them (outpost-milter blocks them first thing in main); here too,
// before Boost.Test or a daemon starts a thread.
struct BlockSignals {
    BlockSignals() {
        sigset_t s;
        sigemptyset(&s);
        for (int sig : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&s, sig);
        pthread_sigmask(SIG_BLOCK, &s, nullptr);
    }
};
BOOST_TEST_GLOBAL_FIXTURE(BlockSignals);

sigset_t milter_signals() {
    sigset_t s;
    sigemptyset(&s);
    for (int sig : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&s, sig);
    return s;
}

template <class F>
bool within(std::chrono::milliseconds limit, F done) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

// libmilter's signal thread: one sigwait(3), through the program's definition.
struct SignalThread {
    std::atomic<bool> returned{false};
    int sig = 0, rc = -1;
    std::thread t;
    SignalThread() {
        t = std::thread([this] {
            const sigset_t set = milter_signals();
            rc = ::sigwait(&set, &sig);
            returned = true;
        });
    }
    ~SignalThread() {
        if (!returned) ::kill(::getpid(), SIGINT);  // never leave it waiting
        t.join();
    }
};

// A unix socket the daemon's wake-up connection can reach.
struct Listener {
    int fd = -1;
    ListenSpec spec;
    explicit Listener(const std::string& path) {
        spec = parse_listen("unix:" + path);
        fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strcpy(a.sun_path, path.c_str());
        BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        BOOST_REQUIRE(::listen(fd, 4) == 0);
    }
    ~Listener() { ::close(fd); }
    // True if a connection arrives within `limit`.
    bool woken(std::chrono::milliseconds limit) {
        timeval tv{static_cast<time_t>(limit.count() / 1000), static_cast<suseconds_t>(limit.count() % 1000 * 1000)};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        const int c = ::accept(fd, nullptr, nullptr);
        if (c < 0) return false;
        ::close(c);
        return true;
    }
};

struct DaemonCase : test::MilterFixture {
    std::atomic<int> in_progress{0};
    std::unique_ptr<Listener> listener;
    std::unique_ptr<Daemon> daemon;

    explicit DaemonCase(const std::string& yaml = "") : MilterFixture(yaml) {
        listener = std::make_unique<Listener>(dir.path + "/milter.sock");
        daemon = std::make_unique<Daemon>(cfg.source, listener->spec,
                                          make_runtime(std::make_shared<const Config>(cfg), nullptr));
        daemon->in_progress = [this] { return in_progress.load(); };
    }
    ~DaemonCase() {
        daemon.reset();
        set_draining(false);
        set_runtime(nullptr);
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(reload_applies_refuses_and_recovers) {
    DaemonCase c;
    const auto first = current_runtime();
    BOOST_REQUIRE(first);

    // A configuration that loads: a new generation, the old store shared.
    test::write_file(c.cfg.source, test::read_file(c.cfg.source) + "milter:\n  drain_timeout: 7s\n");
    BOOST_TEST(c.daemon->reload());
    const auto second = current_runtime();
    BOOST_TEST((second != first));
    BOOST_TEST(second->config->milter.drain_timeout.count() == 7000);
    BOOST_TEST((second->store == first->store));

    // One that does not: the old generation kept, the refusal counted and
    // written where `outpostctl stats --milter` reads it.
    const uint64_t errors = reload_errors().load();
    const std::string good = test::read_file(c.cfg.source);
    test::write_file(c.cfg.source, good + "milter:\n  drain_timeout: forever\n");
    BOOST_TEST(!c.daemon->reload());
    BOOST_TEST((current_runtime() == second));
    BOOST_TEST(reload_errors().load() == errors + 1);
    const std::string snapshot = test::read_file(c.cfg.store.path + "/counters/latency.json");
    BOOST_TEST(snapshot.find("\"reload_errors\":" + std::to_string(errors + 1)) != std::string::npos, snapshot);

    // The tracking secret readable by others: refused (the old secrets
    // keep serving); made private again, the next reload takes it.
    test::write_file(c.cfg.source, good);
    BOOST_REQUIRE(::chmod(c.cfg.tracking.secret_file.c_str(), 0644) == 0);
    BOOST_TEST(!c.daemon->reload());
    BOOST_TEST((current_runtime() == second));
    BOOST_TEST(reload_errors().load() == errors + 2);
    BOOST_REQUIRE(::chmod(c.cfg.tracking.secret_file.c_str(), 0600) == 0);
    BOOST_TEST(c.daemon->reload());
    BOOST_TEST((current_runtime() != second));
    BOOST_TEST(c.daemon->reloads() == 4u);
}

BOOST_AUTO_TEST_CASE(sighup_reloads_and_the_wait_goes_on) {
    DaemonCase c;
    c.daemon->start();
    const auto first = current_runtime();
    SignalThread libmilter;
    BOOST_REQUIRE(::kill(::getpid(), SIGHUP) == 0);
    BOOST_TEST(within(5s, [&] { return c.daemon->reloads() == 1; }));
    BOOST_TEST((current_runtime() != first));
    std::this_thread::sleep_for(100ms);
    BOOST_TEST(!libmilter.returned.load());  // SIGHUP does not stop libmilter
    BOOST_REQUIRE(::kill(::getpid(), SIGINT) == 0);
    BOOST_TEST(within(5s, [&] { return libmilter.returned.load(); }));
    BOOST_TEST(libmilter.rc == 0);
    BOOST_TEST(libmilter.sig == SIGINT);
    BOOST_TEST(!draining());  // SIGINT stops at once, no drain
}

BOOST_AUTO_TEST_CASE(sigterm_drains_until_the_messages_finish) {
    DaemonCase c;
    c.daemon->start();
    c.in_progress = 2;
    SignalThread libmilter;
    BOOST_REQUIRE(::kill(::getpid(), SIGTERM) == 0);
    BOOST_TEST(within(5s, [] { return draining(); }));
    std::this_thread::sleep_for(200ms);
    BOOST_TEST(!libmilter.returned.load());  // messages still in progress

    // A SIGHUP during the drain still reloads.
    BOOST_REQUIRE(::kill(::getpid(), SIGHUP) == 0);
    BOOST_TEST(within(5s, [&] { return c.daemon->reloads() == 1; }));
    BOOST_TEST(!libmilter.returned.load());

    c.in_progress = 0;
    BOOST_TEST(within(2s, [&] { return libmilter.returned.load(); }));
    BOOST_TEST(libmilter.sig == SIGTERM);
    // libmilter's listener is woken so it sees the stop at once.
    BOOST_TEST(c.listener->woken(3000ms));
}

BOOST_AUTO_TEST_CASE(second_sigterm_or_sigint_cut_the_drain_short) {
    for (int cut : {SIGTERM, SIGINT}) {
        BOOST_TEST_CONTEXT(strsignal(cut)) {
            DaemonCase c;  // milter.drain_timeout 30 s by default
            c.daemon->start();
            c.in_progress = 1;
            SignalThread libmilter;
            BOOST_REQUIRE(::kill(::getpid(), SIGTERM) == 0);
            BOOST_TEST(within(5s, [] { return draining(); }));
            std::this_thread::sleep_for(100ms);
            BOOST_TEST(!libmilter.returned.load());
            const auto t0 = std::chrono::steady_clock::now();
            BOOST_REQUIRE(::kill(::getpid(), cut) == 0);
            BOOST_TEST(within(3s, [&] { return libmilter.returned.load(); }));
            BOOST_TEST((std::chrono::steady_clock::now() - t0 < 3s));
            BOOST_TEST(libmilter.sig == cut);
            BOOST_TEST(c.in_progress.load() == 1);
        }
    }
}

BOOST_AUTO_TEST_CASE(the_drain_ends_at_drain_timeout) {
    DaemonCase c("milter:\n  drain_timeout: 1s\n");
    c.daemon->start();
    c.in_progress = 1;
    SignalThread libmilter;
    const auto t0 = std::chrono::steady_clock::now();
    BOOST_REQUIRE(::kill(::getpid(), SIGTERM) == 0);
    BOOST_TEST(within(10s, [&] { return libmilter.returned.load(); }));
    const auto took = std::chrono::steady_clock::now() - t0;
    BOOST_TEST((took >= 900ms));
    BOOST_TEST((took < 5s));
    BOOST_TEST(libmilter.sig == SIGTERM);
}

BOOST_AUTO_TEST_CASE(stopped_daemon_leaves_sigwait_to_libc) {
    DaemonCase c;
    c.daemon->start();
    c.daemon->stop();
    // No waiter routed: SIGHUP ends the wait, as libc's sigwait would.
    SignalThread libmilter;
    BOOST_REQUIRE(::kill(::getpid(), SIGHUP) == 0);
    BOOST_TEST(within(5s, [&] { return libmilter.returned.load(); }));
    BOOST_TEST(libmilter.sig == SIGHUP);
    BOOST_TEST(c.daemon->reloads() == 0u);
}

BOOST_AUTO_TEST_CASE(maintenance_writes_the_snapshot_every_ten_seconds) {
    DaemonCase c;
    const std::string snapshot = c.cfg.store.path + "/counters/latency.json";
    std::filesystem::remove(snapshot);
    c.daemon->maintain(10);  // one second: counters synced only
    BOOST_TEST(!std::filesystem::exists(snapshot));
    c.daemon->maintain(100);
    BOOST_TEST(std::filesystem::exists(snapshot));
    BOOST_TEST(test::read_file(snapshot).find("\"counters_errors\"") != std::string::npos);
    // The thread does it by itself (every 100 ms tick), and stop() writes it
    // once more.
    std::filesystem::remove(snapshot);
    c.daemon->start();
    c.daemon->stop();
    BOOST_TEST(std::filesystem::exists(snapshot));
}
