// test_ingest_unsubscribe.cpp - mail to the List-Unsubscribe mailto address,
// and `outpostctl stats` over what it counts.
#define BOOST_TEST_MODULE ingest_unsubscribe
#include <boost/test/unit_test.hpp>

#include "control/lib/ingest_unsubscribe.h"
#include "milter/stages/unsubscribe.h"
#include "milter_fixture.h"
#include "store/secrets.h"
#include "store/stats.h"

using namespace outpost;

namespace {

struct Fixture : test::MilterFixture {
    TokenKeys keys = TokenKeys::load(cfg.tracking.secret_file);
    int64_t now = now_seconds();

    Fixture() { add_verified("example.com"); }

    // The mailto URI the milter writes for these recipients.
    std::string mailto_token(const std::vector<std::string>& rcpts,
                             const std::string& domain = "example.com") {
        auto links = milter::unsubscribe_links(cfg, keys, domain, "t.relay.test", rcpts, "4F2A21C0A45", now);
        return links.mailto.substr(links.mailto.find("%20") + 3);
    }
    IngestResult ingest(const std::string& subject, const std::string& from, const std::string& sender = "") {
        const std::string msg = "From: " + from + "\r\nTo: unsubscribe@relay.test\r\nSubject: " + subject +
                                "\r\nMessage-ID: <x@y>\r\n\r\nplease\r\n";
        return ingest_unsubscribe(admin->store(), keys, cfg, msg, sender, now);
    }
    bool suppressed(const std::string& addr) {
        auto t = admin->store().read();
        return admin->store().suppressed(t, "example.com", addr).has_value();
    }
    int64_t stat(const char* metric) {
        auto t = admin->store().read_counters();
        return admin->store().stat(t, "example.com", utc_day(now), metric);
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(one_recipient_token_suppresses_that_recipient) {
    Fixture f;
    const std::string token = f.mailto_token({"<Alice@Example.net>"});
    // The unsubscribe mail may come from another address (an alias): the
    // token names the recipient itself.
    IngestResult r = f.ingest("unsubscribe " + token, "Alice Alias <alias@example.org>");
    BOOST_TEST(r.used);
    BOOST_TEST(r.domain == "example.com");
    BOOST_TEST(f.suppressed("alice@example.net"));
    BOOST_TEST(!f.suppressed("alias@example.org"));
    BOOST_TEST(f.stat(stats::kUnsubscribeMailto) == 1);
    // Again: used, nothing new, not counted twice.
    r = f.ingest("unsubscribe " + token, "alice@example.net");
    BOOST_TEST(r.used);
    BOOST_TEST(r.suppressed.empty());
    BOOST_TEST(r.already.size() == 1u);
    BOOST_TEST(f.stat(stats::kUnsubscribeMailto) == 1);
}

BOOST_AUTO_TEST_CASE(several_recipients_only_the_named_sender) {
    Fixture f;
    const std::string token = f.mailto_token({"<a@example.net>", "<b@example.net>"});
    // Somebody else copying the header cannot unsubscribe anyone.
    IngestResult r = f.ingest("unsubscribe " + token, "mallory@example.org", "mallory@example.org");
    BOOST_TEST(!r.used);
    BOOST_TEST(r.reason.find("not a recipient") != std::string::npos);
    BOOST_TEST(!f.suppressed("a@example.net"));
    BOOST_TEST(!f.suppressed("mallory@example.org"));
    // The From address named by the token; an encoded-word subject and an
    // undecoded %20 are found too.
    std::string b64 = base64url("unsubscribe " + token);  // RFC 2047 B wants the standard alphabet
    for (auto& c : b64) c = c == '-' ? '+' : c == '_' ? '/' : c;
    while (b64.size() % 4) b64 += '=';
    r = f.ingest("=?UTF-8?B?" + b64 + "?=", "B <B@example.net>");
    BOOST_TEST(r.used);
    BOOST_TEST(f.suppressed("b@example.net"));
    BOOST_TEST(!f.suppressed("a@example.net"));
    r = f.ingest("Re: unsubscribe%20" + token, "x@example.org", "a@example.net");
    BOOST_TEST(r.used);
    BOOST_TEST(f.suppressed("a@example.net"));
}

BOOST_AUTO_TEST_CASE(unusable_mail_changes_nothing) {
    Fixture f;
    test::TempDir other;
    tracking_secret_init(other.path + "/k");
    TokenKeys foreign = TokenKeys::load(other.path + "/k");
    auto foreign_links =
        milter::unsubscribe_links(f.cfg, foreign, "example.com", "t", {"<a@example.net>"}, "", f.now);
    auto links = milter::unsubscribe_links(f.cfg, f.keys, "example.com", "t", {"<a@example.net>"}, "", f.now);
    const std::string one_click = links.https.substr(links.https.rfind('/') + 1);
    std::string forged = f.mailto_token({"<a@example.net>"});
    forged[forged.size() - 5] = forged[forged.size() - 5] == 'A' ? 'B' : 'A';
    struct Case {
        const char* label;
        std::string subject;
    };
    const Case cases[] = {
        {"no token", "unsubscribe me please"},
        {"forged", "unsubscribe " + forged},
        {"other installation",
         "unsubscribe " + foreign_links.mailto.substr(foreign_links.mailto.find("%20") + 3)},
        {"one-click token by mail", "unsubscribe " + one_click},
        {"truncated", "unsubscribe " + f.mailto_token({"<a@example.net>"}).substr(0, 30)},
    };
    for (const auto& c : cases) BOOST_TEST_CONTEXT(c.label) {
            IngestResult r = f.ingest(c.subject, "a@example.net", "a@example.net");
            BOOST_TEST(!r.used);
            BOOST_TEST(!r.reason.empty());
        }
    BOOST_TEST(!f.suppressed("a@example.net"));
    // Not a message at all, and a removed domain.
    BOOST_TEST(!ingest_unsubscribe(f.admin->store(), f.keys, f.cfg, "", "", f.now).used);
    const std::string token = f.mailto_token({"<a@example.net>"});
    f.admin->remove_domain("example.com");
    IngestResult r = f.ingest("unsubscribe " + token, "a@example.net");
    BOOST_TEST(!r.used);
    BOOST_TEST(r.reason.find("no longer") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(outpostctl_ingest_and_stats) {
    Fixture f;
    const std::string token = f.mailto_token({"<c@example.net>"});
    const std::string cfg = f.dir.path + "/outpost.yaml";
    const std::string msg = f.dir.path + "/msg.eml";
    test::write_file(msg, "From: c@example.net\r\nSubject: unsubscribe " + token + "\r\n\r\nx\r\n");
    auto r = test::run({"/bin/sh", "-c",
                        std::string(OUTPOSTCTL) + " --config " + cfg +
                            " ingest unsubscribe --sender c@example.net < " + msg});
    BOOST_TEST(r.status == 0);
    BOOST_TEST(f.suppressed("c@example.net"));
    // Garbage is logged and exits 0 (Postfix must not bounce it).
    test::write_file(msg, "not a message at all");
    r = test::run(
        {"/bin/sh", "-c", std::string(OUTPOSTCTL) + " --config " + cfg + " ingest unsubscribe < " + msg});
    BOOST_TEST(r.status == 0);
    BOOST_TEST(r.err.find("result=unused") != std::string::npos);
    // A store it cannot open: 75, so Postfix retries.
    test::write_file(f.dir.path + "/broken.yaml",
                     "store:\n  path: /proc/nonexistent/outpost\ntracking:\n  secret_file: " +
                         f.cfg.tracking.secret_file + "\n");
    test::write_file(msg, "From: c@example.net\r\nSubject: unsubscribe " + token + "\r\n\r\nx\r\n");
    r = test::run(
        {"/bin/sh", "-c",
         std::string(OUTPOSTCTL) + " --config " + f.dir.path + "/broken.yaml ingest unsubscribe < " + msg});
    BOOST_TEST(r.status == 75);

    r = test::run({OUTPOSTCTL, "--config", cfg, "stats", "example.com"});
    BOOST_TEST(r.status == 0);
    BOOST_TEST(r.out.find("mailto 1") != std::string::npos);
    r = test::run({OUTPOSTCTL, "--config", cfg, "stats", "example.com", "--json", "--days", "2"});
    BOOST_TEST(r.status == 0);
    auto j = nlohmann::json::parse(r.out);
    BOOST_TEST(j["totals"][stats::kUnsubscribeMailto].get<int>() == 1);
    BOOST_TEST(j["domain"] == "example.com");
}
