// test_outpostctl_cli.cpp - outpostctl's command line as an administrator
// meets it (issue 9): mistyped commands get a reason token and the nearest
// command, one exit status per class of error, `show` and `list` print
// every stored setting (lists with a header row), suppression reasons are
// kept, networks with host bits are refused, optional records say so and
// `config check` lists every problem of the file.
#define BOOST_TEST_MODULE outpostctl_cli
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "ctl_fixture.h"
#include "testutil.h"

using namespace outpost;
using nlohmann::json;
using test::Ctl;

namespace {

bool has(const std::string& text, const std::string& what) {
    return text.find(what) != std::string::npos;
}

std::string first_line(const std::string& s) {
    return s.substr(0, s.find('\n'));
}

// One line on stderr: "outpostctl: TOKEN: ...", and the exit status.
void expect_line(const test::Run& r, int status, const std::string& token) {
    BOOST_TEST(r.status == status, "stderr: " << r.err);
    BOOST_TEST(r.err.rfind("outpostctl: " + token + ": ", 0) == 0u, "stderr: " << r.err);
    BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1, "stderr: " << r.err);
    BOOST_TEST(r.out.empty(), "stdout: " << r.out);
}

}  // namespace

BOOST_AUTO_TEST_CASE(mistyped_commands_name_the_nearest_one) {
    Ctl ctl;
    auto r = ctl({"domian", "list"});
    expect_line(r, 1, "UNKNOWN_COMMAND");
    BOOST_TEST(has(r.err, "'domian' is not a command of outpostctl"), r.err);
    BOOST_TEST(has(r.err, "did you mean `outpostctl domain list`?"), r.err);
    BOOST_TEST(has(r.err, "commands: config, domain, events, ingest, key, message, relay, stats, suppression, tenant, tracking"),
               r.err);

    r = ctl({"domain", "lsit"});
    expect_line(r, 1, "UNKNOWN_COMMAND");
    BOOST_TEST(has(r.err, "`outpostctl domain lsit`"), r.err);
    BOOST_TEST(has(r.err, "did you mean `outpostctl domain list`?"), r.err);
    BOOST_TEST(has(r.err, "commands: add, dkim, list, records, reinstate, remove, set, show, suspend, verify"), r.err);

    r = ctl({"domain", "dkim", "rotat", "example.com"});
    expect_line(r, 1, "UNKNOWN_COMMAND");
    BOOST_TEST(has(r.err, "did you mean `outpostctl domain dkim rotate`?"), r.err);

    // Two at the same distance: both offered.
    r = ctl({"domain", "se", "example.com"});
    expect_line(r, 1, "UNKNOWN_COMMAND");
    BOOST_TEST(has(r.err, "`outpostctl domain set`"), r.err);

    // Nothing near: no guess, but the choices.
    r = ctl({"frobnicate"});
    expect_line(r, 1, "UNKNOWN_COMMAND");
    BOOST_TEST(!has(r.err, "did you mean"), r.err);
    BOOST_TEST(has(r.err, "commands: config, domain"), r.err);

    r = ctl({"domain"});
    expect_line(r, 1, "MISSING_COMMAND");
    BOOST_TEST(has(r.err, "`outpostctl domain` needs a command: add, dkim, list,"), r.err);
    BOOST_TEST(has(r.err, "(e.g. `outpostctl domain list`)"), r.err);
    expect_line(ctl({}), 1, "MISSING_COMMAND");
    expect_line(ctl({"domain", "dkim"}), 1, "MISSING_COMMAND");

    r = ctl({"domain", "list", "--jsn"});
    expect_line(r, 1, "UNKNOWN_OPTION");
    BOOST_TEST(has(r.err, "`outpostctl domain list` has no option --jsn; did you mean `--json`?"), r.err);
    BOOST_TEST(has(r.err, "--removed"), r.err);

    r = ctl({"domain", "list", "--config", ctl.config});
    expect_line(r, 1, "UNKNOWN_OPTION");
    BOOST_TEST(has(r.err, "--config is an option of `outpostctl`: put it before `domain`"), r.err);

    r = ctl({"domain", "show"});
    expect_line(r, 1, "MISSING_ARGUMENT");
    BOOST_TEST(has(r.err, "`outpostctl domain show`"), r.err);

    r = ctl({"domain", "list", "extra"});
    expect_line(r, 1, "UNEXPECTED_ARGUMENT");
    BOOST_TEST(has(r.err, "extra"), r.err);

    r = ctl({"domain", "records", "example.com", "--format", "yaml"});
    expect_line(r, 1, "VALUE_INVALID");
    BOOST_TEST(has(r.err, "yaml"), r.err);
}

BOOST_AUTO_TEST_CASE(one_exit_status_per_class_of_error) {
    Ctl ctl;
    BOOST_REQUIRE(ctl({"domain", "add", "example.com", "--selector", "s1"}).status == 0);
    // Usage: anything wrong in the command line, values included.
    expect_line(ctl({"domain", "set", "example.com", "--active", "maybe"}), 1, "VALUE_INVALID");
    expect_line(ctl({"domain", "set", "example.com", "--daily-cap", "-5"}), 1, "VALUE_INVALID");
    expect_line(ctl({"domain", "set", "example.com", "--daily-cap", "lots"}), 1, "VALUE_INVALID");
    expect_line(ctl({"domain", "set", "example.com", "--warmup-days", "400"}), 1, "VALUE_INVALID");
    expect_line(ctl({"domain", "set", "example.com"}), 1, "NOTHING_TO_CHANGE");
    expect_line(ctl({"domain", "set", "example.com", "--colour", "red"}), 1, "UNKNOWN_OPTION");
    expect_line(ctl({"domain", "set"}), 1, "MISSING_ARGUMENT");
    expect_line(ctl({"domain", "set", "example.com", "--active"}), 1, "MISSING_ARGUMENT");
    expect_line(ctl({"domain", "add", "co.uk"}), 1, "DOMAIN_IS_PUBLIC_SUFFIX");
    expect_line(ctl({"domain", "add", "new.example", "--rsa-bits", "512"}), 1, "KEY_SIZE_INVALID");
    expect_line(ctl({"key", "add", "k", "--cidr", "10.0.0.0/33"}), 1, "CIDR_INVALID");
    expect_line(ctl({"suppression", "add", "example.com", "nobody"}), 1, "ADDRESS_INVALID");
    // The other classes keep their codes.
    expect_line(ctl({"domain", "show", "nope.example"}), 2, "DOMAIN_NOT_FOUND");
    expect_line(ctl({"domain", "add", "example.com"}), 3, "DOMAIN_ALREADY_ADDED");
    // The help says it.
    auto help = test::run({OUTPOSTCTL, "--help"});
    BOOST_TEST(has(help.out, "1 usage (the command line is wrong, values included)"), help.out);
    BOOST_TEST(!has(help.out, "4 invalid value"), help.out);
}

BOOST_AUTO_TEST_CASE(domain_show_prints_every_stored_setting) {
    Ctl ctl;
    BOOST_REQUIRE(ctl({"tenant", "add", "acme"}).status == 0);
    BOOST_REQUIRE(ctl({"domain", "add", "example.com", "--tenant", "acme", "--shared", "--rua", "d@example.com"})
                      .status == 0);
    auto text = ctl({"domain", "show", "example.com"}).out;
    // Defaults, said to be the configuration's.
    BOOST_TEST(has(text, "warmup days:   14 (config default warmup.days)"), text);
    BOOST_TEST(has(text, "daily cap:     none after warmup (config default warmup.cap)"), text);
    BOOST_TEST(has(text, "tenant:        acme\n"), text);
    BOOST_TEST(has(text, "shared:        yes"), text);
    BOOST_TEST(has(text, "active:        on"), text);
    BOOST_TEST(has(text, "dmarc rua:     d@example.com"), text);

    BOOST_REQUIRE(ctl({"domain", "set", "example.com", "--warmup-days", "7", "--daily-cap", "5000", "--track-opens",
                       "on", "--unsubscribe-footer", "on", "--dmarc-policy", "reject", "--active", "off"})
                      .status == 0);
    BOOST_REQUIRE(ctl({"domain", "suspend", "example.com", "--reason", "too many bounces"}).status == 0);
    text = ctl({"domain", "show", "example.com"}).out;
    for (const char* want : {"warmup days:   7\n", "daily cap:     5000\n", "tracking:      opens on, clicks off",
                             "unsubscribe:   on, footer on", "dmarc policy:  reject", "active:        off",
                             "suspended:     since ", ": too many bounces"})
        BOOST_TEST(has(text, want), want << " in\n" << text);
    json j = ctl.json_of({"domain", "show", "example.com", "--json"});
    BOOST_TEST(j["warmup_days"] == 7);
    BOOST_TEST(j["daily_cap"] == 5000);
    BOOST_TEST(j["warmup"]["days"] == 7);
    BOOST_TEST(j["warmup"]["daily_cap"] == 5000);
    BOOST_TEST(j["unsubscribe_footer"] == true);
    BOOST_TEST(j["shared"] == true);
    BOOST_TEST(j["tenant"] == "acme");
    BOOST_TEST(j["suspended_reason"] == "too many bounces");
}

BOOST_AUTO_TEST_CASE(keys_show_their_logins_networks_and_domains) {
    Ctl ctl;
    BOOST_REQUIRE(ctl({"tenant", "add", "acme"}).status == 0);
    BOOST_REQUIRE(ctl({"domain", "add", "example.com", "--tenant", "acme"}).status == 0);
    auto r = ctl({"key", "add", "app1", "--tenant", "acme", "--allow", "example.com", "--sasl", "app1-login",
                  "--cidr", "192.0.2.0/24", "--cidr", "2001:db8::/32", "--sandbox"});
    BOOST_REQUIRE_MESSAGE(r.status == 0, r.err);
    auto list = ctl({"key", "list"}).out;
    BOOST_TEST(first_line(list).rfind("KEY", 0) == 0u, list);
    for (const char* col : {"TENANT", "SANDBOX", "SASL", "NETWORKS", "DOMAINS"})
        BOOST_TEST(has(first_line(list), col), col);
    for (const char* v : {"app1-login", "192.0.2.0/24,2001:db8::/32", "example.com", "acme", "yes"})
        BOOST_TEST(has(list, v), v << " in\n" << list);
    auto show = ctl({"key", "show", "app1"}).out;
    for (const char* v : {"sasl:      app1-login", "networks:  192.0.2.0/24, 2001:db8::/32", "tenant:    acme",
                          "domains:   example.com", "sandbox:   yes"})
        BOOST_TEST(has(show, v), v << " in\n" << show);
    json j = ctl.json_of({"key", "list", "--json"});
    BOOST_REQUIRE(j.size() == 1u);
    BOOST_TEST(j[0]["sasl"] == "app1-login");
    BOOST_TEST(j[0]["cidrs"].size() == 2u);
    BOOST_TEST(j[0]["sandbox"] == true);
    BOOST_TEST(!j[0].contains("secret_hash"));
}

BOOST_AUTO_TEST_CASE(list_commands_print_a_header_row_but_not_in_json) {
    Ctl ctl;
    BOOST_REQUIRE(ctl({"tenant", "add", "acme"}).status == 0);
    BOOST_REQUIRE(ctl({"domain", "add", "example.com"}).status == 0);
    BOOST_REQUIRE(ctl({"key", "add", "app1"}).status == 0);
    BOOST_REQUIRE(ctl({"suppression", "add", "example.com", "bob@example.org"}).status == 0);
    const std::vector<std::pair<std::vector<std::string>, std::string>> lists = {
        {{"domain", "list"}, "DOMAIN"},
        {{"key", "list"}, "KEY"},
        {{"tenant", "list"}, "TENANT"},
        {{"suppression", "list", "example.com"}, "ADDRESS"},
    };
    for (const auto& [args, head] : lists) {
        BOOST_TEST_CONTEXT(args[0]) {
            auto r = ctl(args);
            BOOST_TEST(r.status == 0, r.err);
            BOOST_TEST(first_line(r.out).rfind(head, 0) == 0u, r.out);
            BOOST_TEST(std::count(r.out.begin(), r.out.end(), '\n') == 2, r.out);  // header + one row
            auto with_json = args;
            with_json.push_back("--json");
            json j = ctl.json_of(with_json);
            BOOST_TEST(j.is_array());
            BOOST_TEST(j.size() == 1u);
        }
    }
}

BOOST_AUTO_TEST_CASE(suppression_reason_is_kept_and_shown) {
    Ctl ctl;
    BOOST_REQUIRE(ctl({"domain", "add", "example.com"}).status == 0);
    auto r = ctl({"suppression", "add", "example.com", "bob@example.org", "--reason", "asked by phone"});
    BOOST_REQUIRE_MESSAGE(r.status == 0, r.err);
    BOOST_REQUIRE(ctl({"suppression", "add", "example.com", "eve@example.org"}).status == 0);
    auto list = ctl({"suppression", "list", "example.com"}).out;
    BOOST_TEST(has(list, "REASON"), list);
    BOOST_TEST(has(list, "asked by phone"), list);
    BOOST_TEST(has(list, "manual"), list);  // the default
    json j = ctl.json_of({"suppression", "list", "example.com", "--json"});
    BOOST_REQUIRE(j.size() == 2u);
    BOOST_TEST(j[0]["address"] == "bob@example.org");
    BOOST_TEST(j[0]["reason"] == "asked by phone");
    BOOST_TEST(j[1]["reason"] == "manual");
    expect_line(ctl({"suppression", "add", "example.com", "x@example.org", "--reason", "two\nlines"}), 1,
                "VALUE_INVALID");
}

BOOST_AUTO_TEST_CASE(networks_with_host_bits_are_refused_with_the_fix) {
    Ctl ctl;
    auto r = ctl({"key", "add", "k4", "--cidr", "10.0.0.1/8"});
    expect_line(r, 1, "CIDR_HOST_BITS");
    BOOST_TEST(has(r.err, "--cidr 10.0.0.0/8, or --cidr 10.0.0.1/32 for the one host"), r.err);
    r = ctl({"key", "add", "k6", "--cidr", "2001:db8::1/32"});
    expect_line(r, 1, "CIDR_HOST_BITS");
    BOOST_TEST(has(r.err, "--cidr 2001:db8::/32, or --cidr 2001:db8::1/128"), r.err);
    BOOST_TEST(ctl.json_of({"key", "list", "--json"}).empty());
    // Networks and bare addresses are stored as given (a bare one as a host).
    r = ctl({"key", "add", "k", "--cidr", "10.0.0.0/8", "--cidr", "192.0.2.7", "--cidr", "2001:db8:0:0::/64"});
    BOOST_REQUIRE_MESSAGE(r.status == 0, r.err);
    json k = ctl.json_of({"key", "show", "k", "--json"});
    BOOST_TEST(k["cidrs"] == json({"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/64"}));
}

BOOST_AUTO_TEST_CASE(records_of_features_not_used_are_labelled_optional) {
    Ctl ctl;
    BOOST_REQUIRE(ctl({"domain", "add", "example.com"}).status == 0);
    BOOST_REQUIRE(ctl({"domain", "set", "example.com", "--unsubscribe", "off"}).status == 0);
    json rs = ctl.json_of({"domain", "records", "example.com", "--format", "json"});
    std::map<std::string, json> by;
    for (const auto& r : rs) by[r["purpose"].get<std::string>() + "/" + r["type"].get<std::string>()] = r;
    BOOST_TEST(by["dkim/TXT"]["required"] == true);
    BOOST_TEST(by["dkim/TXT"]["optional"] == false);
    BOOST_TEST(by["spf/TXT"]["optional"] == false);
    BOOST_TEST(by["tracking/CNAME"]["optional"] == true);
    BOOST_TEST(by["tracking/CNAME"]["note"].get<std::string>().rfind(
                   "optional (opens, clicks and unsubscribe links are off for this domain)", 0) == 0u,
               by["tracking/CNAME"]["note"]);
    BOOST_TEST(by["mailfrom/MX"]["optional"] == true);
    BOOST_TEST(by["mailfrom/MX"]["note"].get<std::string>().rfind("optional (without it", 0) == 0u);
    BOOST_TEST(has(by["dmarc/TXT"]["note"], "rua= (aggregate reports) is optional and not set"));
    auto table = ctl({"domain", "records", "example.com"}).out;
    BOOST_TEST(has(table, "tracking*"), table);
    BOOST_TEST(has(table, "; optional (opens, clicks and unsubscribe links are off for this domain)"), table);
    BOOST_TEST(has(table, "(* optional: not needed for the domain to be verified"), table);
    auto bind = ctl({"domain", "records", "example.com", "--format", "bind"}).out;
    BOOST_TEST(has(bind, "; tracking: optional (opens, clicks and unsubscribe links are off"), bind);
    BOOST_TEST(!has(bind, "(optional): optional"), bind);  // said once
    BOOST_TEST(has(bind, "; mailfrom: optional ("), bind);
    BOOST_TEST(!has(bind, "; spf (optional)"), bind);

    // With tracking on, the CNAME is still optional, for another reason.
    BOOST_REQUIRE(ctl({"domain", "set", "example.com", "--track-clicks", "on"}).status == 0);
    rs = ctl.json_of({"domain", "records", "example.com", "--format", "json"});
    for (const auto& r : rs)
        if (r["purpose"] == "tracking")
            BOOST_TEST(r["note"].get<std::string>().rfind("optional (without it links use t.relay.example.net)", 0) ==
                       0u, r["note"]);
    // Required when the configuration requires it.
    Ctl strict("verify:\n  required: [dkim, spf, dmarc, mailfrom, tracking]\n");
    BOOST_REQUIRE(strict({"domain", "add", "example.com"}).status == 0);
    for (const auto& r : strict.json_of({"domain", "records", "example.com", "--format", "json"})) {
        BOOST_TEST(r["optional"] == false, r.dump());
        BOOST_TEST(!has(r["note"], "optional ("), r.dump());
    }
}

BOOST_AUTO_TEST_CASE(config_check_lists_every_problem) {
    test::TempDir dir;
    const std::string path = dir.path + "/bad.yaml";
    test::write_file(path, "store:\n  path: " + dir.path + "/store\n  keys: " + dir.path +
                               "/keys\n"
                               "dns:\n  upstream: resolver.example\n  timeout: 5 parsecs\n"
                               "milter:\n  unmanaged: maybe\n");
    auto r = test::run({OUTPOSTCTL, "--config", path, "config", "check"});
    BOOST_TEST(r.status == 5, r.err);
    BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 3, r.err);
    BOOST_TEST(has(r.err, "outpostctl: " + path + ":5:13: dns.upstream = 'resolver.example' is not ADDR or ADDR@PORT"),
               r.err);
    BOOST_TEST(has(r.err, "outpostctl: " + path + ":6:12: dns.timeout must be a duration"), r.err);
    BOOST_TEST(has(r.err, "outpostctl: " + path + ":8:14: milter.unmanaged: 'maybe' is not one of reject|pass"),
               r.err);
    BOOST_TEST(!std::filesystem::exists(dir.path + "/store"));
    // The same refusal from every command that loads it.
    auto v = test::run({OUTPOSTCTL, "--config", path, "domain", "verify", "--all"});
    BOOST_TEST(v.status == 5);
    BOOST_TEST(v.err == r.err);

    // What the resolver refuses beyond the file (an unreadable trust anchor)
    // is found by config check too, with the key named; and key problems
    // after it are still checked.
    Ctl ctl("dns:\n  trust_anchor: /nonexistent/root.key\n");
    r = ctl({"config", "check"});
    BOOST_TEST(r.status == 5, r.err);
    BOOST_TEST(has(r.err, "dns.trust_anchor '/nonexistent/root.key' cannot be read"), r.err);
}

BOOST_AUTO_TEST_CASE(config_check_names_the_example_values_left_to_set) {
    // The shipped example (every key at its default) loads, but describes
    // the example relay: config check says which settings to change.
    Ctl example;
    auto r = example({"config", "check"});
    BOOST_TEST(r.status == 0, r.err);
    for (const char* key : {"relay.hostname", "relay.ips", "relay.spf_include", "relay.bounce_host",
                            "tracking.host", "milter.sandbox_recipient"})
        BOOST_TEST(has(r.err, std::string("outpostctl: EXAMPLE_VALUE: ") + key + " is still the example's"),
                   key << " not named:\n" << r.err);
    BOOST_TEST(has(r.err, "relay.hostname is still the example's relay.example.net: set it to this relay's host name"),
               r.err);
    BOOST_TEST(has(r.out, "6 setting(s) still the example's: set them before enabling the units"), r.out);

    Ctl configured(
        "relay:\n  hostname: mx.acme.example\n  ips: [198.51.100.7]\n  spf_include: _spf.acme.example\n"
        "  bounce_host: b.acme.example\n"
        "tracking:\n  host: t.acme.example\n"
        "milter:\n  sandbox_recipient: sandbox@acme.example\n");
    r = configured({"config", "check"});
    BOOST_TEST(r.status == 0, r.err);
    BOOST_TEST(!has(r.err, "EXAMPLE_VALUE"), r.err);
    BOOST_TEST(!has(r.out, "still the example's"), r.out);
}
