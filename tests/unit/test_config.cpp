// test_config.cpp - the parameter table, the loader and its errors.
#define BOOST_TEST_MODULE config
#include <boost/test/unit_test.hpp>

#include "base/error.h"
#include "testutil.h"

using namespace outpost;

namespace {

// The error text of parsing `yaml`, or "" if it parsed.
std::string error_of(const std::string& yaml) {
    try {
        parse_config(yaml, "t.yaml");
    } catch (const Error& e) {
        BOOST_CHECK(e.status() == Exit::config);
        return e.what();
    }
    return "";
}

}  // namespace

BOOST_AUTO_TEST_CASE(defaults_come_from_the_table) {
    Config c = default_config();
    BOOST_TEST(c.store.path == "/var/lib/outpost");
    BOOST_TEST(c.milter.listen == "unix:/run/outpost/milter.sock");
    BOOST_TEST(c.dkim.rsa_bits == 2048);
    BOOST_TEST(c.dns.timeout.count() == 5000);
    BOOST_TEST(c.verify.pending_timeout.count() == 72 * 3600);
    BOOST_TEST(c.verify.required == (std::vector<std::string>{"dkim", "spf", "dmarc"}));
    BOOST_TEST(c.tracking.max_bytes == 10 * 1024 * 1024);
    BOOST_TEST(c.health.own.complaint_suspend == 0.005, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(c.relay.ips.size() == 2u);
}

BOOST_AUTO_TEST_CASE(values_are_read_and_typed) {
    Config c = parse_config(
        "milter:\n  listen: inet:8891@127.0.0.1\n  unauthenticated: allow\n"
        "dns: { upstream: 127.0.0.1@5353, timeout: 750ms }\n"
        "warmup: { days: 0, first_day: 10, cap: 1000 }\n"
        "health: { own: { bounce_suspend: 12.5% } }\n",
        "t.yaml");
    BOOST_TEST(c.milter.listen == "inet:8891@127.0.0.1");
    BOOST_TEST(c.milter.unauthenticated == "allow");
    BOOST_TEST(c.dns.upstream == "127.0.0.1@5353");
    BOOST_TEST(c.dns.timeout.count() == 750);
    BOOST_TEST(c.warmup.cap == 1000);
    BOOST_TEST(c.health.own.bounce_suspend == 0.125, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(c.source == "t.yaml");
}

struct Case {
    const char* label;
    const char* yaml;
    const char* want;  // substring of the error
};

BOOST_AUTO_TEST_CASE(errors_name_file_line_and_column) {
    const Case cases[] = {
        {"unknown key with suggestion", "milter:\n  listn: unix:/x\n",
         "t.yaml:2:3: unknown key 'milter.listn' (did you mean 'milter.listen'?)"},
        {"unknown section", "stor:\n  path: /x\n", "t.yaml:1:1: unknown key 'stor' (did you mean 'store'?)"},
        {"wrong type: integer", "dkim:\n  rsa_bits: big\n", "t.yaml:2:13: dkim.rsa_bits must be an integer"},
        {"out of range", "dkim:\n  rsa_bits: 512\n",
         "t.yaml:2:13: dkim.rsa_bits = 512 is out of range (allowed: 1024 to 4096)"},
        {"bad choice", "milter:\n  unauthenticated: maybe\n",
         "t.yaml:2:20: milter.unauthenticated: 'maybe' is not one of reject|allow"},
        {"bad duration", "dns:\n  timeout: 5 parsecs\n", "t.yaml:2:12: dns.timeout must be a duration"},
        {"list expected", "relay:\n  ips: 192.0.2.1\n",
         "t.yaml:2:8: relay.ips must be a list of IP addresses"},
        {"bad ip in list", "relay:\n  ips: [192.0.2.1, not-an-ip]\n",
         "t.yaml:2:20: relay.ips: 'not-an-ip' is not an IPv4 or IPv6 address"},
        {"bad list member", "verify:\n  required: [dkim, dane]\n",
         "t.yaml:2:20: verify.required: 'dane' is not one of dkim|spf|dmarc|mailfrom|tracking"},
        {"percent", "health:\n  own:\n    bounce_warn: 5\n",
         "t.yaml:3:18: health.own.bounce_warn must be a percentage"},
        {"section given a value", "milter: 3\n", "t.yaml:1:9: 'milter' is a section"},
        {"duplicate key", "dkim:\n  rsa_bits: 2048\n  rsa_bits: 3072\n",
         "t.yaml:3:3: 'dkim.rsa_bits' is set twice"},
        {"yaml syntax", "milter:\n  listen: [unclosed\n", "t.yaml:"},
        {"not a mapping", "- a\n- b\n", "t.yaml:1:1: the file must be a YAML mapping"},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.label) {
            const std::string got = error_of(c.yaml);
            BOOST_TEST(got.find(c.want) != std::string::npos,
                       "got: '" << got << "' want: '" << c.want << "'");
        }
    }
}

BOOST_AUTO_TEST_CASE(example_file_is_generated_from_the_table_and_loads) {
    const std::string generated = example_config();
    // The checked-in example must be exactly what the table generates.
    const std::string checked_in =
        test::read_file(std::string(OUTPOST_SOURCE_DIR) + "/config/outpost.example.yaml");
    BOOST_TEST(generated == checked_in,
               "config/outpost.example.yaml is stale: regenerate it with `outpostctl config example`");
    Config c = parse_config(generated, "example");
    Config d = default_config();
    BOOST_TEST(c.store.path == d.store.path);
    BOOST_TEST(c.relay.ips == d.relay.ips);
    BOOST_TEST(c.health.shared.complaint_suspend == d.health.shared.complaint_suspend);
}

BOOST_AUTO_TEST_CASE(file_selection_and_missing_files) {
    test::TempDir dir;
    const std::string path = dir.path + "/o.yaml";
    test::write_file(path, "dkim: { selector_prefix: zz }\n");
    BOOST_TEST(load_config(path).dkim.selector_prefix == "zz");
    ::setenv("OUTPOST_CONFIG", path.c_str(), 1);
    BOOST_TEST(load_config("").dkim.selector_prefix == "zz");
    ::unsetenv("OUTPOST_CONFIG");
    try {
        load_config(dir.path + "/missing.yaml");
        BOOST_FAIL("a named file that does not exist must be an error");
    } catch (const Error& e) {
        BOOST_TEST(std::string(e.what()).find("missing.yaml: cannot read") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(keys_must_live_apart_from_the_store) {
    const std::string got = error_of("store: { path: /var/lib/o, keys: /var/lib/o }\n");
    BOOST_TEST(got.find("store.keys must differ from store.path") != std::string::npos);
}
