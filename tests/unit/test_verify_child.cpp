// test_verify_child.cpp - `domain verify`'s DNS work runs in a confined
// child: it cannot use the parent's descriptors nor read the DKIM keys, it
// is not root when the parent is, its results come back whole, and a child
// that hangs, crashes or answers badly is a clear error.
#define BOOST_TEST_MODULE verify_child
#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

#include "control/lib/admin.h"
#include "dns/verify_child.h"
#include "base/error.h"
#include "testutil.h"

using namespace outpost;

namespace {

// A config whose DNS is a closed loopback port: every look-up fails fast,
// which is all these tests need of it.
Config config(const test::TempDir& dir) {
    Config cfg = test::test_config(dir.path, "dns:\n  upstream: 127.0.0.1@9\n  timeout: 200ms\n  deadline: 2s\n");
    return cfg;
}

bool landlock_available() {
    return ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION) >= 0;
}

void expect_failure(const std::function<void()>& f, const std::string& words) {
    try {
        f();
        BOOST_FAIL("no error");
    } catch (const Error& e) {
        BOOST_TEST(e.token() == "VERIFY_CHILD_FAILED");
        BOOST_TEST(std::string(e.what()).find(words) != std::string::npos, e.what());
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_child_cannot_read_the_keys_nor_use_the_parents_descriptors) {
    test::TempDir dir;
    Config cfg = config(dir);
    Admin admin(cfg);
    const Domain d = admin.add_domain("example.com", AddDomainOptions{});
    std::string key;
    for (const auto& e : std::filesystem::directory_iterator(cfg.store.keys)) key = e.path();
    BOOST_REQUIRE(!key.empty());
    const int key_fd = ::open(key.c_str(), O_RDONLY);  // held open by the parent
    BOOST_REQUIRE(key_fd >= 0);
    const bool root = ::geteuid() == 0;
    if (!root && !landlock_available()) {
        ::close(key_fd);
        BOOST_TEST_MESSAGE("skipped: not root and no Landlock here, so the keys' owner can read them");
        return;
    }
    const auto r = check_in_child(cfg, {d}, [&] {
        if (::fcntl(key_fd, F_GETFD) != -1) return false;  // the parent's descriptor is gone
        if (root && (::geteuid() == 0 || ::getuid() == 0)) return false;
        const int fd = ::open(key.c_str(), O_RDONLY);
        if (fd >= 0) {
            ::close(fd);
            return false;  // it could read a DKIM key
        }
        return ::open((cfg.store.path + "/data.mdb").c_str(), O_RDONLY) < 0 || root;
    });
    ::close(key_fd);
    BOOST_REQUIRE(r.results.size() == 1u);
    BOOST_TEST(r.results[0].domain == "example.com");
    BOOST_TEST(r.results[0].checks.size() >= 3u);  // dkim, spf, dmarc at least
    for (const auto& c : r.results[0].checks) BOOST_TEST((c.status == CheckStatus::error), c.name);
    BOOST_TEST(r.confinement != "descriptors only");
    BOOST_TEST_MESSAGE("confinement: " << r.confinement);
}

BOOST_AUTO_TEST_CASE(a_child_that_fails_is_a_clear_error) {
    test::TempDir dir;
    Config cfg = config(dir);
    Admin admin(cfg);
    const Domain d = admin.add_domain("example.com", AddDomainOptions{});
    expect_failure([&] { check_in_child(cfg, {d}, [] { return false; }); }, "confinement probe failed");
    expect_failure([&] { check_in_child(cfg, {d}, []() -> bool { std::raise(SIGKILL); return true; }); },
                   "killed by signal 9");
    // A child that never answers is killed after dns.deadline + 10 s.
    cfg.dns.deadline = std::chrono::milliseconds(100);
    const auto t0 = std::chrono::steady_clock::now();
    expect_failure(
        [&] {
            check_in_child(cfg, {d}, [] {
                std::this_thread::sleep_for(std::chrono::seconds(60));
                return true;
            });
        },
        "did not answer within");
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20)));
}

BOOST_AUTO_TEST_CASE(answers_are_read_strictly) {
    std::vector<DomainVerification> v(1);
    v[0].domain = "example.com";
    v[0].checks.push_back(CheckResult{"spf", "example.com", "a", "b", CheckStatus::ok, "", true, ""});
    v[0].spf_known = true;
    v[0].existing_spf = "v=spf1 -all";
    const auto back = results_from_json(results_to_json(v, "nobody"));
    BOOST_TEST(back.confinement == "nobody");
    BOOST_REQUIRE(back.results.size() == 1u);
    BOOST_TEST((back.results[0].checks[0].status == CheckStatus::ok));
    BOOST_TEST(back.results[0].existing_spf == "v=spf1 -all");
    expect_failure([] { results_from_json("{\"results\": [}"); }, "not JSON");
    expect_failure([] { results_from_json("{\"confinement\": \"x\", \"results\": [{\"domain\": 7}]}"); },
                   "malformed");
    expect_failure([] { results_from_json("{\"error\": \"resolver exploded\"}"); }, "resolver exploded");
}
