// test_stage_track.cpp - the track stage in the pipeline: what is buffered,
// what is replaced, and that the signature covers the body as delivered.
#define BOOST_TEST_MODULE stage_track
#include <boost/test/unit_test.hpp>

#include "milter/stages/track.h"
#include "milter_fixture.h"
#include "store/stats.h"

using namespace outpost;
using namespace outpost::test;

namespace {

const std::string kHtml =
    "<html><body><p><a href=\"https://example.org/x?a=1&amp;b=2\">x</a></p></body></html>\r\n";

std::vector<std::pair<std::string, std::string>> html_headers(
    const std::string& type = "text/html; charset=utf-8") {
    return {{"From", " a@example.com"}, {"To", " rcpt@example.net"},  {"Subject", " hi"},
            {"MIME-Version", " 1.0"},   {"Content-Type", " " + type}, {"Content-Transfer-Encoding", " 7bit"}};
}

SetDomainOptions tracking_off() {
    SetDomainOptions o;
    o.track_opens = false;
    o.track_clicks = false;
    return o;
}

SetDomainOptions tracking_on() {
    SetDomainOptions o;
    o.track_opens = true;
    o.track_clicks = true;
    return o;
}

struct Fixture : MilterFixture {
    Domain d;
    explicit Fixture(const std::string& yaml = "") : MilterFixture(yaml) {
        d = add_verified("example.com");
        admin->set_domain("example.com", tracking_on());
        add_key("any", sasl_key("any"));
    }
    Send html(const std::string& body = kHtml) {
        Send s;
        s.sasl = "any";
        s.headers = html_headers();
        s.body = body;
        return s;
    }
    int64_t stat(const char* metric) {
        auto t = admin->store().read_counters();
        return admin->store().stat(t, "example.com", utc_day(now_seconds()), metric);
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(html_is_rewritten_and_the_signature_covers_the_new_body) {
    Fixture f;
    Delivery r = send_message(f.runtime(), f.html());
    BOOST_REQUIRE(r.eom.is_next());
    BOOST_TEST(r.mta.body_replaced);
    BOOST_TEST(r.body.find("https://t.relay.test/c/2") != std::string::npos);
    BOOST_TEST(r.body.find("https://t.relay.test/o/2") != std::string::npos);
    BOOST_TEST(r.body.find("example.org") == std::string::npos);
    BOOST_TEST(r.txn.tracked.find("links:1,pixel") == 0u);
    // The click token holds the entity-decoded URL and the recipient's digest.
    const size_t c = r.body.find("/c/") + 3;
    const std::string token = r.body.substr(c, r.body.find('"', c) - c);
    auto p = f.runtime().tokens->verify(token, TokenKind::click, now_seconds(), 86400);
    BOOST_REQUIRE(p.has_value());
    BOOST_TEST(p->url == "https://example.org/x?a=1&b=2");
    BOOST_TEST(p->names("rcpt@example.net"));
    BOOST_TEST(p->message == "4QTEST");
    // The signature verifies over the delivered (rewritten) body.
    auto results = verify_dkim(r.delivered(), {f.d}, f.dir.path + "/keys.txt");
    BOOST_REQUIRE(results.size() == 1u);
    BOOST_TEST(results[0].find(":ok") != std::string::npos);
    BOOST_TEST(f.stat(stats::kTracked) == 1);
}

BOOST_AUTO_TEST_CASE(the_streamed_signature_would_not_verify_the_new_body) {
    // Guards the test above: had the sign stage kept the streamed signature,
    // verification of the delivered body must fail.
    Fixture f;
    Delivery r = send_message(f.runtime(), f.html());
    BOOST_REQUIRE(r.mta.body_replaced);
    std::string delivered = r.delivered();
    delivered = delivered.substr(0, delivered.find("\r\n\r\n") + 4) + kHtml;
    auto results = verify_dkim(delivered, {f.d}, f.dir.path + "/keys.txt");
    BOOST_REQUIRE(results.size() == 1u);
    BOOST_TEST(results[0].find(":fail") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_message_over_max_bytes_is_delivered_untracked_and_signed) {
    Fixture f;
    f.cfg.tracking.max_bytes = 200;  // read when the runtime is built
    std::string big = "<html><body>";
    for (int i = 0; i < 20; ++i)
        big += "<p><a href=\"https://example.org/" + std::to_string(i) + "\">x</a></p>\r\n";
    big += "</body></html>\r\n";
    Delivery r = send_message(f.runtime(), f.html(big));
    BOOST_REQUIRE(r.eom.is_next());
    BOOST_TEST(!r.mta.body_replaced);
    BOOST_TEST(r.txn.tracked == "too-large");
    BOOST_TEST(f.stat(stats::kUntrackedTooLarge) == 1);
    auto results = verify_dkim(r.delivered(), {f.d}, f.dir.path + "/keys.txt");
    BOOST_REQUIRE(results.size() == 1u);
    BOOST_TEST(results[0].find(":ok") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(what_is_not_buffered_or_not_changed) {
    Fixture f;
    // Not text or multipart: never buffered, never replaced.
    Send s = f.html();
    s.headers = html_headers("application/pdf");
    Delivery r = send_message(f.runtime(), s);
    BOOST_TEST(!r.txn.buffering);
    BOOST_TEST(!r.mta.body_replaced);
    // No links: only the pixel is added; with opens off too, nothing changes.
    r = send_message(f.runtime(), f.html("<html><body><p>no links</p></body></html>\r\n"));
    BOOST_TEST(r.mta.body_replaced);
    f.admin->set_domain("example.com", [] {
        SetDomainOptions o;
        o.track_opens = false;
        return o;
    }());
    r = send_message(f.runtime(), f.html("<html><body><p>no links</p></body></html>\r\n"));
    BOOST_TEST(!r.mta.body_replaced);
    BOOST_TEST(r.eom.is_next());
    // An MTA that does not let the milter change the body: delivered as
    // sent, and signed.
    Send t = f.html();
    t.mta_allows_body_change = false;
    r = send_message(f.runtime(), t);
    BOOST_TEST(r.eom.is_next());
    BOOST_TEST(!r.mta.body_replaced);
    BOOST_TEST(r.txn.tracked == "mta-refuses-body-change");
    auto results = verify_dkim(r.delivered(), {f.d}, f.dir.path + "/keys.txt");
    BOOST_REQUIRE(results.size() == 1u);
    BOOST_TEST(results[0].find(":ok") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(placeholder_and_footer) {
    Fixture f;
    f.admin->set_domain("example.com", tracking_off());
    Send s = f.html("<html><body><a href=\"{{outpost_unsubscribe_url}}\">leave</a></body></html>\r\n");
    Delivery r = send_message(f.runtime(), s);
    BOOST_REQUIRE(r.mta.body_replaced);
    BOOST_TEST(r.body.find("href=\"https://t.relay.test/u/2") != std::string::npos);
    BOOST_TEST(r.body.find("{{outpost_unsubscribe_url}}") == std::string::npos);
    // Footer on, no placeholder: a footer link is added.
    SetDomainOptions footer;
    footer.unsubscribe_footer = true;
    f.admin->set_domain("example.com", footer);
    r = send_message(f.runtime(), f.html("<html><body><p>news</p></body></html>\r\n"));
    BOOST_REQUIRE(r.mta.body_replaced);
    BOOST_TEST(r.body.find("https://t.relay.test/u/2") != std::string::npos);
    BOOST_TEST(r.txn.tracked.find("footer") != std::string::npos);
    // Several recipients: the placeholder gets the mailto URI (no per-recipient page).
    SetDomainOptions nofooter;
    nofooter.unsubscribe_footer = false;
    f.admin->set_domain("example.com", nofooter);
    s.rcpts = {"<a@example.net>", "<b@example.net>"};
    r = send_message(f.runtime(), s);
    BOOST_REQUIRE(r.mta.body_replaced);
    BOOST_TEST(r.body.find("href=\"mailto:unsubscribe@relay.test?subject=unsubscribe%202") !=
               std::string::npos);
    // Unsubscribe off: the placeholder is left as written.
    f.admin->set_domain("example.com", unsubscribe(false));
    r = send_message(f.runtime(), s);
    BOOST_TEST(!r.mta.body_replaced);
}

BOOST_AUTO_TEST_CASE(without_tracking_only_a_possible_placeholder_opens_the_body) {
    Fixture f;
    f.admin->set_domain("example.com", tracking_off());
    // No placeholder, no encoded part: the body is not parsed, not replaced.
    Delivery r = send_message(f.runtime(), f.html());
    BOOST_TEST(r.eom.is_next());
    BOOST_TEST(!r.mta.body_replaced);
    BOOST_TEST(r.txn.tracked.empty());
    // A placeholder split by a quoted-printable soft line break is still
    // found (the MIME parser decodes the part) and replaced.
    Send s = f.html("<html><body><a href=3D\"{{outpost_unsub=\r\nscribe_url}}\">leave</a></body></html>\r\n");
    s.headers = html_headers();
    s.headers.back() = {"Content-Transfer-Encoding", " quoted-printable"};
    r = send_message(f.runtime(), s);
    BOOST_REQUIRE(r.mta.body_replaced);
    BOOST_TEST(r.txn.tracked.find("placeholder:1") != std::string::npos);
    BOOST_TEST(r.body.find("outpost_unsub") == std::string::npos);
    auto results = verify_dkim(r.delivered(), {f.d}, f.dir.path + "/keys.txt");
    BOOST_TEST(results == std::vector<std::string>{f.d.selectors[0].name + ":ok"});
    // Over kPlaceholderOnlyBytes, untracked mail is not held at all: the
    // message goes as it came, signed, the placeholder left as written.
    std::string big = "<html><body><a href=\"{{outpost_unsubscribe_url}}\">leave</a>\r\n";
    while (big.size() <= milter::kPlaceholderOnlyBytes) big += std::string(998, 'x') + "\r\n";
    r = send_message(f.runtime(), f.html(big + "</body></html>\r\n"));
    BOOST_TEST(r.eom.is_next());
    BOOST_TEST(!r.mta.body_replaced);
    BOOST_TEST(r.txn.placeholder_unchecked);
    BOOST_TEST(!r.txn.too_large);  // not counted as untracked: it was never tracked
    BOOST_TEST(r.txn.body.empty());
    results = verify_dkim(r.delivered(), {f.d}, f.dir.path + "/keys.txt");
    BOOST_TEST(results == std::vector<std::string>{f.d.selectors[0].name + ":ok"});
}

BOOST_AUTO_TEST_CASE(links_use_the_branded_host_once_verified_even_without_unsubscribe) {
    Fixture f;
    Domain d = f.admin->domain("example.com");
    CheckResult c;
    c.name = "tracking";
    c.status = CheckStatus::ok;
    d.checks.push_back(c);
    f.admin->save_domain(d);
    f.admin->set_domain("example.com", unsubscribe(false));
    Delivery r = send_message(f.runtime(), f.html());
    BOOST_REQUIRE(r.mta.body_replaced);
    BOOST_TEST(r.body.find("https://track.example.com/c/2") != std::string::npos);
    BOOST_TEST(r.body.find("https://track.example.com/o/2") != std::string::npos);
    BOOST_TEST(r.body.find("t.relay.test") == std::string::npos);
}
