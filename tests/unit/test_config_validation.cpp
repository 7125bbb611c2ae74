// test_config_validation.cpp - the config loader refuses exactly what the
// binaries would refuse when they use a value (dns::Resolver for
// dns.upstream, outpost-milter's listener and runtime, outpost-trackd's
// listener), and reports every problem of a file, not just the first.
#define BOOST_TEST_MODULE config_validation
#include <boost/test/unit_test.hpp>

#include "control/lib/trackd_server.h"
#include "dns/resolver.h"
#include "milter/listen.h"
#include "milter/runtime.h"
#include "base/error.h"
#include "testutil.h"

using namespace outpost;

namespace {

// The loader's problems for one key set to `value` (YAML-quoted).
std::vector<std::string> loader_problems(const std::string& section, const std::string& key,
                                         const std::string& value) {
    try {
        parse_config(section + ":\n  " + key + ": \"" + value + "\"\n", "t.yaml");
    } catch (const ConfigError& e) {
        return e.problems();
    }
    return {};
}

bool refuses(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.status() == Exit::config;
    }
    return false;
}

void same_verdicts(const std::string& section, const std::string& key, const std::vector<std::string>& values,
                   const std::function<void(const std::string&)>& binary) {
    for (const auto& v : values) {
        BOOST_TEST_CONTEXT(section << "." << key << " = '" << v << "'") {
            const auto problems = loader_problems(section, key, v);
            const bool binary_refuses = refuses([&] { binary(v); });
            BOOST_TEST(!problems.empty() == binary_refuses);
            if (!problems.empty()) {
                // Names the key and the value.
                BOOST_TEST(problems.front().find("t.yaml:2:") == 0u, problems.front());
                BOOST_TEST(problems.front().find(section + "." + key) != std::string::npos, problems.front());
                BOOST_TEST(problems.front().find("'" + v + "'") != std::string::npos, problems.front());
            }
        }
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(dns_upstream_as_the_resolver_of_domain_verify) {
    same_verdicts("dns", "upstream",
                  {"", "127.0.0.1", "127.0.0.1@5353", "::1@53", "2001:db8::1", "localhost", "127.0.0.1@",
                   "127.0.0.1@99999", "127.0.0.1@0", "1.2.3.4@53x", "300.1.1.1", "127.0.0.1 @53", "@53",
                   "dns.example@53"},
                  [](const std::string& v) {
                      dns::ResolverOptions o;
                      o.upstream = v;
                      dns::Resolver r(o);
                  });
}

BOOST_AUTO_TEST_CASE(milter_listen_and_socket_mode_as_outpost_milter) {
    same_verdicts("milter", "listen",
                  {"unix:/run/outpost/milter.sock", "local:/tmp/m.sock", "inet:8891@127.0.0.1", "inet6:8891@::1",
                   "inet:8891", "unix:relative.sock", "unix:", "inet:0@127.0.0.1", "inet:70000@127.0.0.1",
                   "inet:x@127.0.0.1", "tcp:8891@127.0.0.1", "/run/outpost/milter.sock",
                   "unix:/" + std::string(120, 'a')},
                  [](const std::string& v) { milter::parse_listen(v); });
    same_verdicts("milter", "socket_mode", {"0660", "660", "0", "0777", "0778", "1777", "rw", "", "0660x"},
                  [](const std::string& v) { milter::parse_socket_mode(v); });
}

BOOST_AUTO_TEST_CASE(tracking_listen_as_outpost_trackd) {
    same_verdicts("tracking", "listen",
                  {"127.0.0.1:8080", "[::1]:8080", "0.0.0.0:0", "127.0.0.1", ":8080", "::1:8080", "[::1:8080",
                   "127.0.0.1:http", "127.0.0.1:70000", "localhost:8080", "[]:80"},
                  [](const std::string& v) { trackd::parse_listen(v); });
}

BOOST_AUTO_TEST_CASE(what_the_milter_writes_into_messages_as_its_runtime) {
    // make_runtime validates before it opens anything: a value it accepts
    // gets as far as the store, which is missing here (an environment error).
    test::TempDir dir;
    auto runtime_with = [&](const std::string& key, const std::string& v) {
        Config c = test::test_config(dir.path);
        c.store.path = dir.path + "/no/such/store";
        if (key == "tracking.host") c.tracking.host = v;
        if (key == "relay.hostname") c.relay.hostname = v;
        if (key == "milter.unsubscribe_mailto") c.milter.unsubscribe_mailto = v;
        if (key == "milter.sandbox_recipient") c.milter.sandbox_recipient = v;
        milter::make_runtime(std::make_shared<const Config>(c), nullptr);
    };
    same_verdicts("tracking", "host", {"t.relay.example.net", "t.example:8443", "", "t example", "t/x"},
                  [&](const std::string& v) { runtime_with("tracking.host", v); });
    same_verdicts("relay", "hostname", {"relay.example.net", "relay:25", "", "relay example"},
                  [&](const std::string& v) { runtime_with("relay.hostname", v); });
    same_verdicts("milter", "unsubscribe_mailto",
                  {"unsubscribe", "u@relay.example.net", "", "a@b@c", "u?x", "u nsub", "u,v"},
                  [&](const std::string& v) { runtime_with("milter.unsubscribe_mailto", v); });
    same_verdicts("milter", "sandbox_recipient",
                  {"sandbox@relay.example.net", "sandbox", "@x", "x@", "<a@b>", "a@b, c@d"},
                  [&](const std::string& v) { runtime_with("milter.sandbox_recipient", v); });
}

BOOST_AUTO_TEST_CASE(every_problem_of_a_file_is_reported_in_file_order) {
    const std::string yaml =
        "milter:\n"
        "  listen: tcp:8891\n"          // 2: unknown socket type
        "  unauthenticated: maybe\n"    // 3: not a choice
        "dns:\n"
        "  upstream: localhost@53\n"    // 5: not ADDR[@PORT]
        "  timeout: 5 parsecs\n"        // 6: not a duration
        "  tiemout: 5s\n"               // 7: unknown key
        "dkim:\n"
        "  rsa_bits: 512\n"             // 9: out of range
        "tracking:\n"
        "  listen: localhost:8080\n";   // 11: not numeric
    try {
        parse_config(yaml, "t.yaml");
        BOOST_FAIL("accepted");
    } catch (const ConfigError& e) {
        BOOST_TEST(e.status() == Exit::config);
        const auto& p = e.problems();
        BOOST_REQUIRE(p.size() == 7u);
        std::string all;
        for (const auto& l : p) all += l + "\n";
        BOOST_TEST(std::string(e.what()) + "\n" == all);
        const char* want[] = {
            "milter.listen = 'tcp:8891' has an unknown socket type 'tcp'",
            "milter.unauthenticated: 'maybe' is not one of reject|allow",
            "dns.upstream = 'localhost@53' is not ADDR or ADDR@PORT",
            "dns.timeout must be a duration such as 500ms, 5s, 10m, 72h or 7d, not '5 parsecs'",
            "unknown key 'dns.tiemout' (did you mean 'dns.timeout'?)",
            "dkim.rsa_bits = 512 is out of range (allowed: 1024 to 4096)",
            "tracking.listen = 'localhost:8080' needs a numeric IP address",
        };
        const char* lines[] = {"t.yaml:2:", "t.yaml:3:", "t.yaml:5:", "t.yaml:6:", "t.yaml:7:", "t.yaml:9:",
                               "t.yaml:11:"};
        for (size_t i = 0; i < 7; ++i) {
            BOOST_TEST(p[i].find(want[i]) != std::string::npos, p[i]);
            BOOST_TEST(p[i].rfind(lines[i], 0) == 0u, p[i]);
            BOOST_TEST(p[i].find('\n') == std::string::npos);
        }
    }
}
