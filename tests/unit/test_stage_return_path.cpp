// test_stage_return_path.cpp - the VERP envelope sender.
#define BOOST_TEST_MODULE stage_return_path
#include <boost/test/unit_test.hpp>

#include "milter/stages/return_path.h"
#include "milter_fixture.h"

using namespace outpost;
using namespace outpost::test;

namespace {

struct Fixture : MilterFixture {
    Fixture() {
        Domain d = add_verified("example.com");
        CheckResult c;
        c.name = "mailfrom";
        c.status = CheckStatus::ok;
        d.checks.push_back(c);
        admin->save_domain(d);
        add_verified("plain.example");
        add_key("any", sasl_key("any"));
    }
    Send mail(const std::string& from = "a@example.com") {
        Send s;
        s.sasl = "any";
        s.headers = {{"From", " " + from}, {"To", " x@example.net"}, {"Subject", " hi"}};
        return s;
    }
    std::optional<TokenPayload> token_of(const std::string& verp) {
        const size_t plus = verp.find('+'), at = verp.rfind('@');
        return runtime().tokens->verify(verp.substr(plus + 1, at - plus - 1), TokenKind::bounce,
                                        now_seconds(), runtime().config->bounces.lifetime.count());
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(verified_mail_from_gets_a_verp_sender) {
    Fixture f;
    Send s = f.mail();
    s.mail_from = "<App.Sender@example.com>";
    s.rcpts = {"<Reader@Example.NET>"};
    Delivery r = send_message(f.runtime(), s);
    BOOST_REQUIRE(r.eom.is_next());
    const std::string& v = r.mta.new_from;
    BOOST_TEST(v.rfind("bounces+2", 0) == 0u);
    BOOST_TEST(v.substr(v.rfind('@')) == "@bounce.example.com");
    BOOST_TEST(v.find("reader") == std::string::npos);
    BOOST_TEST(v.find("App.Sender") == std::string::npos);
    auto p = f.token_of(v);
    BOOST_REQUIRE(p.has_value());
    BOOST_TEST(p->domain == "example.com");
    BOOST_TEST(p->sender == "App.Sender@example.com");
    BOOST_TEST(p->recipient == "reader@example.net");
    BOOST_TEST(p->message == "4QTEST");
    BOOST_TEST(r.txn.return_path == "verp");
    // A VERP token is no unsubscribe token.
    const size_t plus = v.find('+'), at = v.rfind('@');
    BOOST_TEST(!f.runtime().tokens->verify(v.substr(plus + 1, at - plus - 1), TokenKind::unsubscribe,
                                           now_seconds(), 86400 * 400));
    // The signature is computed after the change and still verifies (the
    // envelope is not signed, but the order of stages must hold).
    auto results = verify_dkim(r.delivered(), {f.admin->domain("example.com")}, f.dir.path + "/k.txt");
    BOOST_REQUIRE(results.size() == 1u);
    BOOST_TEST(results[0].find(":ok") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(several_recipients_carry_digests_many_carry_none) {
    Fixture f;
    Send s = f.mail();
    s.rcpts = {"<a@example.net>", "<b@example.net>"};
    Delivery r = send_message(f.runtime(), s);
    auto p = f.token_of(r.mta.new_from);
    BOOST_REQUIRE(p.has_value());
    BOOST_TEST(p->recipient.empty());
    BOOST_TEST(p->names("b@example.net"));
    BOOST_TEST(!p->names("c@example.net"));
    s.rcpts.clear();
    for (size_t i = 0; i <= milter::kMaxVerpRecipients; ++i)
        s.rcpts.push_back("<r" + std::to_string(i) + "@example.net>");
    r = send_message(f.runtime(), s);
    p = f.token_of(r.mta.new_from);
    BOOST_REQUIRE(p.has_value());
    BOOST_TEST(p->recipients.empty());
    BOOST_TEST(!p->names("r0@example.net"));
}

BOOST_AUTO_TEST_CASE(left_alone) {
    Fixture f;
    // No verified MAIL FROM.
    Delivery r = send_message(f.runtime(), f.mail("a@plain.example"));
    BOOST_TEST(r.eom.is_next());
    BOOST_TEST(r.mta.new_from.empty());
    // The null sender.
    Send s = f.mail();
    s.mail_from = "<>";
    r = send_message(f.runtime(), s);
    BOOST_TEST(r.eom.is_next());
    BOOST_TEST(r.mta.new_from.empty());
}
