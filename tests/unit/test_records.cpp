// test_records.cpp - the records a domain publishes, checked by real tools:
// named-checkzone for the zone fragment, openssl for the DKIM key.
#define BOOST_TEST_MODULE records
#include <boost/test/unit_test.hpp>

#include "dns/dkim_keys.h"
#include "dns/records.h"
#include "base/error.h"
#include "testutil.h"

using namespace outpost;

namespace {

Domain sample_domain(KeyAlgorithm alg, int bits) {
    Domain d;
    d.name = "example.com";
    d.dmarc_policy = "quarantine";
    d.rua = "dmarc@example.com";
    Selector s;
    s.name = "op20261122";
    s.algorithm = alg;
    s.bits = bits;
    s.public_key = generate_key(alg, bits).public_b64;
    d.selectors.push_back(s);
    return d;
}

}  // namespace

BOOST_AUTO_TEST_CASE(txt_values_split_at_255_octets) {
    BOOST_TEST(split_txt("abc").size() == 1u);
    std::string v(600, 'x');
    auto parts = split_txt(v);
    BOOST_TEST(parts.size() == 3u);
    BOOST_TEST(parts[0].size() == 255u);
    BOOST_TEST(parts[2].size() == 90u);
    BOOST_TEST(parts[0] + parts[1] + parts[2] == v);
}

BOOST_AUTO_TEST_CASE(spf_advice_merges_an_existing_record) {
    struct {
        const char* existing;
        const char* want;
    } cases[] = {
        {"", "v=spf1 include:_spf.relay.test ~all"},
        {"v=spf1 mx -all", "v=spf1 mx include:_spf.relay.test -all"},
        {"v=spf1 ip4:192.0.2.1 include:other.test ?all",
         "v=spf1 ip4:192.0.2.1 include:other.test include:_spf.relay.test ?all"},
        {"v=spf1 include:_spf.relay.test -all", "v=spf1 include:_spf.relay.test -all"},
        {"v=spf1 redirect=_spf.other.test", "v=spf1 include:_spf.relay.test redirect=_spf.other.test"},
        {"v=spf1 a", "v=spf1 a include:_spf.relay.test"},
    };
    for (const auto& c : cases) BOOST_TEST_CONTEXT(c.existing) {
            BOOST_TEST(spf_record(c.existing, "_spf.relay.test") == c.want);
        }
}

BOOST_AUTO_TEST_CASE(records_cover_every_purpose) {
    Config cfg = default_config();
    Domain d = sample_domain(KeyAlgorithm::rsa, 1024);
    auto rs = domain_records(d, cfg);
    std::vector<std::string> got;
    for (const auto& r : rs) got.push_back(r.purpose + " " + r.type + " " + r.host);
    std::vector<std::string> want = {"dkim TXT op20261122._domainkey.example.com",
                                     "spf TXT example.com",
                                     "dmarc TXT _dmarc.example.com",
                                     "mailfrom MX bounce.example.com",
                                     "mailfrom TXT bounce.example.com",
                                     "tracking CNAME track.example.com"};
    BOOST_TEST(got == want, boost::test_tools::per_element());
    BOOST_TEST(rs[2].value == "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com");
    BOOST_TEST(rs[0].required);
    BOOST_TEST(!rs[5].required);
    // A retired selector is no longer published.
    d.selectors[0].state = SelectorState::retired;
    BOOST_TEST(domain_records(d, cfg).front().purpose == "spf");
}

BOOST_AUTO_TEST_CASE(bind_fragment_passes_named_checkzone_and_openssl_parses_the_key) {
    test::TempDir dir;
    Config cfg = default_config();
    for (auto alg : {KeyAlgorithm::rsa, KeyAlgorithm::ed25519}) {
        BOOST_TEST_CONTEXT(to_string(alg)) {
            Domain d = sample_domain(alg, 2048);
            const std::string zone = dir.path + "/zone";
            test::write_file(
                zone,
                "$TTL 3600\n"
                "example.com. IN SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 300\n"
                "example.com. IN NS ns.example.com.\n"
                "ns.example.com. IN A 192.0.2.53\n" +
                    records_bind(domain_records(d, cfg), 3600));
            auto r = test::run({"named-checkzone", "example.com", zone});
            BOOST_TEST(r.status == 0, r.out << r.err);
            BOOST_TEST(r.out.find("OK") != std::string::npos);

            // The DKIM p= value is a key openssl can read.
            const auto& p = d.selectors[0].public_key;
            if (alg == KeyAlgorithm::rsa) {
                test::write_file(dir.path + "/pub.pem",
                                 "-----BEGIN PUBLIC KEY-----\n" + p + "\n-----END PUBLIC KEY-----\n");
                auto o =
                    test::run({"openssl", "pkey", "-pubin", "-in", dir.path + "/pub.pem", "-noout", "-text"});
                BOOST_TEST(o.status == 0, o.err);
                BOOST_TEST(o.out.find("2048 bit") != std::string::npos, o.out);
            } else {
                // RFC 8463: p= is the raw 32-byte key; wrap it in its SPKI prefix for openssl.
                auto b = test::run(
                    {"sh", "-c",
                     "{ printf '\\060\\052\\060\\005\\006\\003\\053\\145\\160\\003\\041\\000'; echo '" + p +
                         "' | base64 -d; } | openssl pkey -pubin -inform DER -noout -text"});
                BOOST_TEST(b.status == 0, b.err);
                BOOST_TEST(b.out.find("ED25519 Public-Key") != std::string::npos, b.out);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(bind_fragment_splits_long_txt_into_quoted_strings) {
    Config cfg = default_config();
    Domain d = sample_domain(KeyAlgorithm::rsa, 2048);
    const std::string bind = records_bind(domain_records(d, cfg), 3600);
    const std::string dkim_line = bind.substr(bind.find("op20261122._domainkey"));
    BOOST_TEST(dkim_line.find("IN TXT ( \"v=DKIM1; k=rsa; p=") != std::string::npos);
    BOOST_TEST(dkim_line.find("\"\n\t\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(generated_keys_match_their_public_half) {
    for (auto alg : {KeyAlgorithm::rsa, KeyAlgorithm::ed25519}) {
        KeyPair kp = generate_key(alg, 1024);
        BOOST_TEST(public_key_of(kp.private_pem) == kp.public_b64);
        BOOST_TEST(kp.private_pem.find("-----BEGIN PRIVATE KEY-----") == 0u);
    }
    BOOST_CHECK_THROW(generate_key(KeyAlgorithm::rsa, 512), Error);
}

BOOST_AUTO_TEST_CASE(relay_records_list_the_relay_ips_and_pass_named_checkzone) {
    test::TempDir dir;
    Config cfg = default_config();  // relay.example.net, 192.0.2.10 and 2001:db8::10
    const auto rs = relay_records(cfg);
    BOOST_REQUIRE(!rs.empty());
    BOOST_TEST(rs[0].type == "TXT");
    BOOST_TEST(rs[0].host == cfg.relay.spf_include);
    BOOST_TEST(rs[0].value == "v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 -all");
    std::vector<std::string> got;
    for (const auto& r : rs) got.push_back(r.purpose + " " + r.type + " " + r.host + " " + r.value);
    const std::vector<std::string> want = {
        "relay-spf TXT _spf.relay.example.net v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 -all",
        "bounce-host A bounces.relay.example.net 192.0.2.10",
        "bounce-host AAAA bounces.relay.example.net 2001:db8::10",
        "tracking-host A t.relay.example.net 192.0.2.10",
        "tracking-host AAAA t.relay.example.net 2001:db8::10"};
    BOOST_TEST(got == want, boost::test_tools::per_element());
    const std::string zone = dir.path + "/zone";
    test::write_file(
        zone,
        "$TTL 3600\n"
        "relay.example.net. IN SOA ns.relay.example.net. hostmaster.relay.example.net. 1 3600 600 "
        "86400 300\n"
        "relay.example.net. IN NS ns.relay.example.net.\n"
        "ns.relay.example.net. IN A 192.0.2.53\n" +
            records_bind(rs, 3600));
    auto r = test::run({"named-checkzone", "relay.example.net", zone});
    BOOST_TEST(r.status == 0, r.out << r.err);
    // outpostctl prints them.
    r = test::run(
        {OUTPOSTCTL, "--config", test::write_config(dir.path), "relay", "records", "--format", "json"});
    BOOST_TEST(r.status == 0, r.err);
    BOOST_TEST(nlohmann::json::parse(r.out).size() == rs.size());
}
