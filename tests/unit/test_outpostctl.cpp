// test_outpostctl.cpp - the outpostctl binary, run as an administrator would:
// every subcommand, exit statuses, and bad input that must change nothing.
#define BOOST_TEST_MODULE outpostctl
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "store/store.h"
#include "ctl_fixture.h"
#include "testutil.h"

using namespace outpost;
using nlohmann::json;
using test::Ctl;

namespace {


struct Refusal {
    const char* label;
    std::vector<std::string> args;
    int status;
    const char* token;  // first thing after "outpostctl: "
};

void expect_refusals(const Ctl& ctl, const std::vector<Refusal>& cases) {
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.label) {
            const std::string before = ctl.snapshot();
            auto r = ctl(c.args);
            BOOST_TEST(r.status == c.status, "stderr: " << r.err);
            BOOST_TEST(r.err.rfind(std::string("outpostctl: ") + c.token, 0) == 0u, "stderr: " << r.err);
            // one line, saying what to do
            BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1);
            BOOST_TEST(ctl.snapshot() == before, "the store changed");
        }
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(domain_add_show_records_list) {
    Ctl ctl;
    auto r =
        ctl({"domain", "add", "Example.COM.", "--dmarc-policy", "quarantine", "--rua", "Dmarc@Example.com"});
    BOOST_TEST(r.status == 0, r.err);
    BOOST_TEST(r.out.find("added example.com (pending)") != std::string::npos);
    BOOST_TEST(r.out.find("op") != std::string::npos);

    json d = ctl.json_of({"domain", "show", "example.com", "--json"});
    BOOST_TEST(d["name"] == "example.com");
    BOOST_TEST(d["status"] == "pending");
    BOOST_TEST(d["dmarc_policy"] == "quarantine");
    BOOST_TEST(d["rua"] == "dmarc@example.com");
    BOOST_TEST(d["selectors"].size() == 1u);
    BOOST_TEST(d["selectors"][0]["state"] == "pending");
    BOOST_TEST(d["selectors"][0]["bits"] == 1024);
    BOOST_TEST(d["warmup"]["used_today"] == 0);
    BOOST_TEST(d["warmup"]["limit_today"] == 50);

    auto text = ctl({"domain", "show", "example.com"});
    BOOST_TEST(text.out.find("status:        pending") != std::string::npos, text.out);

    json recs = ctl.json_of({"domain", "records", "example.com", "--format", "json"});
    BOOST_TEST(recs.size() == 6u);
    BOOST_TEST(recs[0]["purpose"] == "dkim");
    BOOST_TEST(recs[2]["value"] == "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com");

    // The private key file is 0600 and matches the published key.
    const std::string sel = d["selectors"][0]["name"];
    struct stat st {};
    BOOST_REQUIRE(::stat((ctl.dir.path + "/keys/" + sel + "._domainkey.example.com.pem").c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 0777) == 0600u);
    auto check = ctl({"config", "check"});
    BOOST_TEST(check.status == 0, check.err);
    BOOST_TEST(check.out.find("1 DKIM keys") != std::string::npos);

    ctl({"domain", "add", "bücher.example", "--algorithm", "both"});
    json list = ctl.json_of({"domain", "list", "--json"});
    BOOST_TEST(list.size() == 2u);
    BOOST_TEST(list[1]["name"] == "xn--bcher-kva.example");
    BOOST_TEST(list[1]["unicode_name"] == "bücher.example");
    BOOST_TEST(list[1]["selectors"].size() == 2u);
    BOOST_TEST(list[1]["selectors"][1]["algorithm"] == "ed25519");
}

BOOST_AUTO_TEST_CASE(domain_records_bind_passes_named_checkzone) {
    Ctl ctl;
    BOOST_REQUIRE(ctl({"domain", "add", "example.com"}).status == 0);
    auto r = ctl({"domain", "records", "example.com", "--format", "bind"});
    BOOST_REQUIRE(r.status == 0);
    test::write_file(ctl.dir.path + "/zone",
                     "$TTL 3600\n@ IN SOA ns.example.com. h.example.com. 1 3600 600 86400 300\n"
                     "@ IN NS ns.example.com.\nns IN A 192.0.2.53\n" +
                         r.out);
    auto z = test::run({"named-checkzone", "example.com", ctl.dir.path + "/zone"});
    BOOST_TEST(z.status == 0, z.out << z.err);
    auto table = ctl({"domain", "records", "example.com"});
    BOOST_TEST(table.out.find("_dmarc.example.com") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(domain_set_rotate_retire_remove) {
    Ctl ctl;
    ctl({"domain", "add", "example.com", "--selector", "first"});
    auto r = ctl({"domain", "set", "example.com", "--active", "off", "--track-opens", "on", "--warmup-days",
                  "3", "--daily-cap", "500", "--dmarc-policy", "reject"});
    BOOST_TEST(r.status == 0, r.err);
    json d = ctl.json_of({"domain", "show", "example.com", "--json"});
    BOOST_TEST(d["active"] == false);
    BOOST_TEST(d["track_opens"] == true);
    BOOST_TEST(d["warmup_days"] == 3);
    BOOST_TEST(d["daily_cap"] == 500);
    BOOST_TEST(d["dmarc_policy"] == "reject");
    // A `domain set` that names no setting changes nothing and says so.
    expect_refusals(ctl, {{"no setting", {"domain", "set", "example.com"}, 1, "NOTHING_TO_CHANGE"}});

    auto rot = ctl({"domain", "dkim", "rotate", "example.com"});
    BOOST_TEST(rot.status == 0, rot.err);
    d = ctl.json_of({"domain", "show", "example.com", "--json"});
    BOOST_TEST(d["selectors"].size() == 2u);
    BOOST_TEST(d["selectors"][1]["state"] == "pending");

    BOOST_TEST(ctl({"domain", "dkim", "retire", "example.com", "first"}).status == 0);
    d = ctl.json_of({"domain", "show", "example.com", "--json"});
    BOOST_TEST(d["selectors"][0]["state"] == "retired");
    json recs = ctl.json_of({"domain", "records", "example.com", "--json"});
    BOOST_TEST(recs[0]["host"] != "first._domainkey.example.com");

    BOOST_TEST(ctl({"domain", "suspend", "example.com", "--reason", "complaints"}).status == 0);
    d = ctl.json_of({"domain", "show", "example.com", "--json"});
    BOOST_TEST(d["status"] == "suspended");
    BOOST_TEST(d["suspended_reason"] == "complaints");
    BOOST_TEST(ctl({"domain", "suspend", "example.com"}).status == 3);
    BOOST_TEST(ctl({"domain", "reinstate", "example.com"}).status == 0);
    BOOST_TEST(ctl.json_of({"domain", "show", "example.com", "--json"})["status"] == "pending");
    BOOST_TEST(ctl({"domain", "reinstate", "example.com"}).status == 3);

    BOOST_TEST(ctl({"domain", "remove", "example.com"}).status == 0);
    BOOST_TEST(ctl({"domain", "show", "example.com"}).status == 2);
    json all = ctl.json_of({"domain", "list", "--removed", "--json"});
    BOOST_TEST(all.size() == 1u);
    BOOST_TEST(all[0]["deleted"] == true);
    // Removed, history kept: the name can be added again.
    BOOST_TEST(ctl({"domain", "add", "example.com"}).status == 0);
}

struct RunningAsRoot {
    boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
        boost::test_tools::assertion_result r(::geteuid() == 0);
        r.message() << "skipped: needs root (outpostctl chowns only when run as root)";
        return r;
    }
};

BOOST_AUTO_TEST_CASE(files_created_as_root_belong_to_the_milter_user,
                     *boost::unit_test::precondition(RunningAsRoot())) {
    Ctl ctl("milter:\n  user: nobody\n");
    BOOST_REQUIRE(ctl({"domain", "add", "example.com", "--selector", "s1"}).status == 0);
    const uid_t nobody = 65534;
    for (const std::string p : {"/store", "/store/data.mdb", "/store/lock.mdb", "/store/counters/data.mdb",
                                "/keys", "/keys/s1._domainkey.example.com.pem"}) {
        struct stat st {};
        BOOST_REQUIRE_MESSAGE(::stat((ctl.dir.path + p).c_str(), &st) == 0, p);
        BOOST_TEST(st.st_uid == nobody, p << " is owned by uid " << st.st_uid);
    }
    // ...and a key written later, while the milter would be running, too.
    BOOST_REQUIRE(ctl({"domain", "dkim", "rotate", "example.com"}).status == 0);
    for (auto& e : std::filesystem::directory_iterator(ctl.dir.path + "/keys")) {
        struct stat st {};
        ::stat(e.path().c_str(), &st);
        BOOST_TEST(st.st_uid == nobody, e.path());
        BOOST_TEST((st.st_mode & 0777) == 0600u, e.path());
    }
}

BOOST_AUTO_TEST_CASE(tenants_and_keys) {
    Ctl ctl;
    BOOST_TEST(ctl({"tenant", "add", "acme"}).status == 0);
    BOOST_TEST(ctl({"domain", "add", "acme.example", "--tenant", "acme"}).status == 0);
    BOOST_TEST(ctl({"domain", "add", "shared.example", "--shared"}).status == 0);
    json k = ctl.json_of({"key", "add", "app1", "--tenant", "acme", "--allow", "ACME.example", "--allow",
                          "shared.example", "--sasl", "app1@acme", "--cidr", "192.0.2.7", "--cidr",
                          "2001:db8::/32", "--json"});
    const std::string secret = k["secret"];
    BOOST_TEST(secret.rfind("op_", 0) == 0u);
    BOOST_TEST(secret.size() > 40u);
    BOOST_TEST(k["allowed_domains"] == json({"acme.example", "shared.example"}));
    BOOST_TEST(k["cidrs"] == json({"192.0.2.7/32", "2001:db8::/32"}));

    // The secret is never shown again nor stored in clear.
    auto show = ctl({"key", "show", "app1", "--json"});
    BOOST_TEST(show.out.find(secret) == std::string::npos);
    BOOST_TEST(show.out.find("secret") == std::string::npos);
    auto list = ctl({"key", "list"});
    BOOST_TEST(list.out.find("app1") != std::string::npos);
    auto grep = test::run({"grep", "-r", "-q", secret, ctl.dir.path + "/store"});
    BOOST_TEST(grep.status == 1, "the secret is in the store in clear");

    json ts = ctl.json_of({"tenant", "list", "--json"});
    BOOST_TEST(ts.size() == 1u);
    BOOST_TEST(ctl({"key", "remove", "app1"}).status == 0);
    BOOST_TEST(ctl({"key", "show", "app1"}).status == 2);
    BOOST_TEST(ctl({"domain", "remove", "acme.example"}).status == 0);
    BOOST_TEST(ctl({"tenant", "remove", "acme"}).status == 0);
}

BOOST_AUTO_TEST_CASE(suppression_commands) {
    Ctl ctl;
    ctl({"domain", "add", "example.com"});
    BOOST_TEST(ctl({"suppression", "add", "example.com", "Bob@Example.ORG"}).status == 0);
    json l = ctl.json_of({"suppression", "list", "example.com", "--json"});
    BOOST_REQUIRE(l.size() == 1u);
    BOOST_TEST(l[0]["address"] == "bob@example.org");
    BOOST_TEST(ctl({"suppression", "remove", "example.com", "bob@example.org"}).status == 0);
    BOOST_TEST(ctl.json_of({"suppression", "list", "example.com", "--json"}).empty());
}

BOOST_AUTO_TEST_CASE(bad_input_is_refused_and_changes_nothing) {
    Ctl ctl;
    ctl({"tenant", "add", "acme"});
    ctl({"tenant", "add", "other"});
    ctl({"domain", "add", "example.com", "--selector", "s1"});
    ctl({"domain", "add", "acme.example", "--tenant", "acme"});
    ctl({"key", "add", "app1"});
    expect_refusals(
        ctl,
        {
            {"duplicate add", {"domain", "add", "example.com"}, 3, "DOMAIN_ALREADY_ADDED"},
            {"duplicate add, other spelling", {"domain", "add", "EXAMPLE.com."}, 3, "DOMAIN_ALREADY_ADDED"},
            {"public suffix", {"domain", "add", "co.uk"}, 1, "DOMAIN_IS_PUBLIC_SUFFIX"},
            {"bare TLD", {"domain", "add", "com"}, 1, "DOMAIN_IS_PUBLIC_SUFFIX"},
            {"invalid name", {"domain", "add", "exa_mple..com"}, 1, "DOMAIN_INVALID"},
            {"invalid IDN", {"domain", "add", "xn--zz.example"}, 1, "DOMAIN_INVALID"},
            {"unknown tenant", {"domain", "add", "new.example", "--tenant", "nobody"}, 2, "TENANT_NOT_FOUND"},
            {"rsa too small", {"domain", "add", "new.example", "--rsa-bits", "512"}, 1, "KEY_SIZE_INVALID"},
            {"bad rua", {"domain", "add", "new.example", "--rua", "not-an-address"}, 1, "ADDRESS_INVALID"},
            {"show unknown", {"domain", "show", "nope.example"}, 2, "DOMAIN_NOT_FOUND"},
            {"records unknown", {"domain", "records", "nope.example"}, 2, "DOMAIN_NOT_FOUND"},
            {"set unknown", {"domain", "set", "nope.example", "--active", "off"}, 2, "DOMAIN_NOT_FOUND"},
            {"set bad switch",
             {"domain", "set", "example.com", "--active", "maybe"},
             1,
             "VALUE_INVALID: --active takes on or off"},
            {"retire unknown selector",
             {"domain", "dkim", "retire", "example.com", "nope"},
             2,
             "SELECTOR_NOT_FOUND"},
            {"retire the last selector",
             {"domain", "dkim", "retire", "example.com", "s1"},
             3,
             "SELECTOR_IN_USE"},
            {"remove unknown", {"domain", "remove", "nope.example"}, 2, "DOMAIN_NOT_FOUND"},
            {"key allow unknown domain",
             {"key", "add", "k2", "--allow", "nope.example"},
             2,
             "DOMAIN_NOT_FOUND"},
            {"key allow invalid domain",
             {"key", "add", "k2", "--allow", "co.uk"},
             1,
             "DOMAIN_IS_PUBLIC_SUFFIX"},
            {"key unknown tenant", {"key", "add", "k2", "--tenant", "nobody"}, 2, "TENANT_NOT_FOUND"},
            {"key other tenant's domain",
             {"key", "add", "k2", "--tenant", "other", "--allow", "acme.example"},
             3,
             "DOMAIN_TENANT_MISMATCH"},
            {"key bad cidr", {"key", "add", "k2", "--cidr", "10.0.0.0/33"}, 1, "CIDR_INVALID"},
            {"duplicate key", {"key", "add", "app1"}, 3, "KEY_ALREADY_ADDED"},
            {"tenant in use", {"tenant", "remove", "acme"}, 3, "TENANT_IN_USE"},
            {"duplicate tenant", {"tenant", "add", "acme"}, 3, "TENANT_ALREADY_ADDED"},
            {"suspend reason with a newline",
             {"domain", "suspend", "example.com", "--reason", "a\nb"},
             1,
             "VALUE_INVALID"},
            {"suppress bad address", {"suppression", "add", "example.com", "nobody"}, 1, "ADDRESS_INVALID"},
        });
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_1_and_help_matches_the_manual) {
    Ctl ctl;
    BOOST_TEST(ctl({"domain", "frobnicate"}).status == 1);
    BOOST_TEST(ctl({"domain", "add"}).status == 1);
    BOOST_TEST(ctl({"domain", "records", "x.example", "--format", "yaml"}).status == 1);
    auto help = test::run({OUTPOSTCTL, "--help"});
    BOOST_TEST(help.status == 0);
    for (const char* word : {"domain", "tenant", "key", "suppression", "config", "Exit status", "--config"})
        BOOST_TEST(help.out.find(word) != std::string::npos, word);
    auto dhelp = test::run({OUTPOSTCTL, "domain", "add", "--help"});
    for (const char* word :
         {"--tenant", "--shared", "--dmarc-policy", "--rua", "--selector", "--algorithm", "--rsa-bits"})
        BOOST_TEST(dhelp.out.find(word) != std::string::npos, word);
}

BOOST_AUTO_TEST_CASE(environment_and_config_errors) {
    // A typo in the YAML: exit 5, file:line:col, nothing created.
    test::TempDir dir;
    const std::string bad = dir.path + "/bad.yaml";
    test::write_file(bad, "store:\n  path: " + dir.path + "/store\n  kyes: /x\n");
    auto r = test::run({OUTPOSTCTL, "--config", bad, "domain", "add", "example.com"});
    BOOST_TEST(r.status == 5);
    BOOST_TEST(
        r.err.find(bad + ":3:3: unknown key 'store.kyes' (did you mean 'store.keys'?)") != std::string::npos,
        r.err);
    BOOST_TEST(!std::filesystem::exists(dir.path + "/store"));

    // A store path that cannot be created: exit 6, named.
    test::write_file(dir.path + "/file", "x");
    const std::string unwritable = dir.path + "/u.yaml";
    test::write_file(unwritable, "store:\n  path: " + dir.path + "/file/store\n  keys: " + dir.path + "/k\n");
    r = test::run({OUTPOSTCTL, "--config", unwritable, "domain", "list"});
    BOOST_TEST(r.status == 6);
    BOOST_TEST(r.err.find("STORE_ERROR: cannot create store directory " + dir.path + "/file/store") !=
                   std::string::npos,
               r.err);

    // A key file others can read: config check names the file and the chmod.
    Ctl ctl;
    ctl({"domain", "add", "example.com", "--selector", "s1"});
    const std::string key = ctl.dir.path + "/keys/s1._domainkey.example.com.pem";
    ::chmod(key.c_str(), 0644);
    r = ctl({"config", "check"});
    BOOST_TEST(r.status == 6);
    BOOST_TEST(r.err.find("chmod 600 " + key) != std::string::npos, r.err);
    ::chmod(key.c_str(), 0600);
    BOOST_TEST(ctl({"config", "check"}).status == 0);

    // A store written by a newer schema: refused, named, exit 6, untouched.
    {
        Store s(load_config_file(ctl.config), Store::Mode::read_write);
        auto t = s.write();
        t.put(s.dbi().meta, "schema_version", std::to_string(Store::kSchemaVersion + 1));
        t.commit();
    }
    r = ctl({"domain", "add", "other.example"});
    BOOST_TEST(r.status == 6);
    BOOST_TEST(r.err.find("STORE_SCHEMA_NEWER") != std::string::npos, r.err);
    BOOST_TEST(!std::filesystem::exists(ctl.dir.path + "/keys/other.example"));
    std::string keys;
    for (auto& e : std::filesystem::directory_iterator(ctl.dir.path + "/keys")) keys += e.path().string();
    BOOST_TEST(keys.find("other.example") == std::string::npos);
}
