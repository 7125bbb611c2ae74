// test_sendmail_headers.cpp - address headers in the form Sendmail keeps
// (milter/sendmail_headers.h, stages/sendmail.h) and header lines short
// enough for Sendmail's esmtp mailer (List-Unsubscribe).
//
// The expected forms are what Sendmail 8.17.1.9 (Debian 12) wrote for each
// input in tests/integration/test_sendmail.py's lab; that test checks the
// whole path against the real Sendmail.
#define BOOST_TEST_MODULE sendmail_headers
#include <boost/test/unit_test.hpp>

#include "milter/sendmail_headers.h"
#include "milter/stages/unsubscribe.h"
#include "milter_fixture.h"

using namespace outpost;
using namespace outpost::test;
using milter::sendmail_address_form;

namespace {

std::string form(const std::string& v) {
    auto r = sendmail_address_form(v);
    BOOST_TEST(r.unqualified.empty(), v << ": unqualified " << r.unqualified);
    return r.value;
}

const milter::Header* find(const Delivery& r, const std::string& name) {
    for (const auto& h : r.mta.headers)
        if (milter::header_is(h.name, name.c_str())) return &h;
    return nullptr;
}

std::vector<std::string> lines(const std::string& value) {
    std::vector<std::string> out;
    size_t from = 0;
    for (size_t nl; (nl = value.find('\n', from)) != std::string::npos; from = nl + 1)
        out.push_back(value.substr(from, nl - from));
    out.push_back(value.substr(from));
    return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(lists_are_joined_with_comma_space) {
    BOOST_TEST(form(" a@x.test,Other <b@x.test>") == "a@x.test, Other <b@x.test>");
    BOOST_TEST(form("i@x.test ,j@x.test") == "i@x.test, j@x.test");
    BOOST_TEST(form("k@x.test,\n\tl@x.test") == "k@x.test, l@x.test");
    BOOST_TEST(form("x@y.test,,  ,z@y.test") == "x@y.test, z@y.test");
    BOOST_TEST(form("a@x.test (x) , b@x.test") == "a@x.test (x), b@x.test");
    // Commas inside quotes, comments and angle brackets do not split.
    BOOST_TEST(form("\"Q, R\" <d@x.test>") == "\"Q, R\" <d@x.test>");
    BOOST_TEST(form("d@x.test (a, b)") == "d@x.test (a, b)");
    // Groups are kept.
    BOOST_TEST(form("undisclosed-recipients:;") == "undisclosed-recipients:;");
    BOOST_TEST(form("grp: m@x.test, n@x.test;") == "grp: m@x.test, n@x.test;");
    // Already in Sendmail's form: unchanged.
    for (const char* v : {"a@x.test", "<a.b@x.test>", "A <a@x.test> (trail.)", "a.b@x.test (J. Doe)",
                          "G<g@x.test>", "\"H\"<h@x.test>", "A (c.d) B <x@x.test>", "a@[192.0.2.1]",
                          "\"J. Doe\" <j@x.test>"})
        BOOST_TEST(form(v) == v);
}

BOOST_AUTO_TEST_CASE(display_names_are_quoted_where_sendmail_quotes_them) {
    BOOST_TEST(form("J. Doe <j@x.test>") == "\"J. Doe\" <j@x.test>");
    BOOST_TEST(form("O'Brien <o@x.test>") == "\"O'Brien\" <o@x.test>");
    BOOST_TEST(form("Dr. No<n@x.test>") == "\"Dr. No\"<n@x.test>");
    BOOST_TEST(form("x@x.test, Mr. X <mx@x.test>") == "x@x.test, \"Mr. X\" <mx@x.test>");
    BOOST_TEST(form("News.Letter: a@x.test, b.c <b@x.test>;") ==
               "\"News.Letter\": a@x.test, \"b.c\" <b@x.test>;");
    BOOST_TEST(form("M\xc3\xbcller. <m@x.test>") == "\"M\xc3\xbcller.\" <m@x.test>");
    // One proper quoted string, where Sendmail would nest quotes or break an
    // escape: Sendmail keeps a quoted name as it is.
    BOOST_TEST(form("\"A.B\" C. D <y@x.test>") == "\"A.B C. D\" <y@x.test>");
    BOOST_TEST(form("Ab\\\"c <z@x.test>") == "\"Ab\\\"c\" <z@x.test>");
}

// An escaped white space ends the phrase: it stays inside the quotes, and
// the form is stable (a second pass changes nothing). Found by
// tests/fuzz/fuzz_sendmail_headers ("\\ <" became an unterminated quote).
BOOST_AUTO_TEST_CASE(an_escaped_trailing_space_stays_in_the_phrase) {
    for (const std::string& v : {std::string("\\ <a@x.test>"), std::string("Bob\\ <b@x.test>"),
                                std::string("a.b\\  <c@x.test>"), std::string("a\\\n, b@y.test")}) {
        const auto first = sendmail_address_form(v);
        const std::string& once = first.value;
        const auto again = sendmail_address_form(once);
        BOOST_TEST(again.value == once, v << " -> " << once);
        BOOST_TEST(again.unqualified == first.unqualified, v << " -> " << once);
        BOOST_TEST(once.find("\\\" <") == std::string::npos, once);  // never a backslash before the closing quote
    }
}

BOOST_AUTO_TEST_CASE(unqualified_addresses_are_named) {
    BOOST_TEST(sendmail_address_form("bob").unqualified == "bob");
    BOOST_TEST(sendmail_address_form("a@x.test, \"Bob\" <bob>").unqualified == "bob");
    BOOST_TEST(sendmail_address_form("\"a@b\" <c>").unqualified == "c");
    BOOST_TEST(sendmail_address_form("grp: bob;").unqualified == "bob");
    BOOST_TEST(sendmail_address_form("\"bob@x\"@y.test").unqualified.empty());
}

BOOST_AUTO_TEST_CASE(the_mta_is_told_by_its_version) {
    BOOST_TEST(milter::is_sendmail_version("8.17.1.9"));
    BOOST_TEST(!milter::is_sendmail_version("Postfix 3.7.11"));
    BOOST_TEST(!milter::is_sendmail_version(""));
    BOOST_TEST(milter::sendmail_address_header("cc"));
    BOOST_TEST(milter::sendmail_address_header("Resent-To"));
    BOOST_TEST(!milter::sendmail_address_header("Bcc"));
    BOOST_TEST(!milter::sendmail_address_header("Subject"));
}

BOOST_AUTO_TEST_CASE(sendmail_sessions_sign_what_sendmail_delivers) {
    MilterFixture f;
    Domain d = f.add_verified("example.com");
    f.add_key("k", sasl_key("k"));
    Send s;
    s.sasl = "k";
    s.sendmail = true;
    s.headers = {{"From", " J. Doe <app@example.com>"}, {"To", " a@x.test,Other <b@x.test>"},
                 {"Cc", " c@x.test"}, {"Subject", " hi"}};
    Delivery r = send_message(f.runtime(), s);
    BOOST_REQUIRE(r.eoh.is_next());
    BOOST_REQUIRE(r.eom.is_next());
    BOOST_TEST(find(r, "To")->value == "a@x.test, Other <b@x.test>");
    BOOST_TEST(find(r, "From")->value == "\"J. Doe\" <app@example.com>");
    BOOST_TEST(find(r, "Cc")->value == " c@x.test");  // already in form: not changed
    int changes = 0;
    for (const auto& l : r.mta.log) changes += l.rfind("change ", 0) == 0;
    BOOST_TEST(changes == 2);
    BOOST_TEST(verify_dkim(r.delivered(), {d}, f.dir.path + "/keys.txt") ==
               std::vector<std::string>{d.selectors.front().name + ":ok"});

    // Through Postfix nothing is rewritten.
    s.sendmail = false;
    r = send_message(f.runtime(), s);
    BOOST_REQUIRE(r.eom.is_next());
    BOOST_TEST(find(r, "To")->value == " a@x.test,Other <b@x.test>");
    for (const auto& l : r.mta.log) BOOST_TEST(l.rfind("change ", 0) != 0);
}

BOOST_AUTO_TEST_CASE(unqualified_addresses_are_refused_on_sendmail) {
    MilterFixture f;
    f.add_verified("example.com");
    f.add_key("k", sasl_key("k"));
    Send s;
    s.sasl = "k";
    s.sendmail = true;
    s.headers = {{"From", " app@example.com"}, {"To", " a@x.test"}, {"Cc", " bob"}};
    Delivery r = send_message(f.runtime(), s);
    BOOST_TEST(r.eoh.code == "550");
    BOOST_TEST(r.eoh.xcode == "5.7.1");
    BOOST_TEST(r.eoh.token == "UNQUALIFIED_ADDRESS");
    BOOST_TEST(r.eoh.text.find("Cc: \"bob\" has no domain") == 0, r.eoh.text);
    s.sendmail = false;  // Postfix qualifies or keeps it itself
    BOOST_TEST(send_message(f.runtime(), s).eom.is_next());
}

BOOST_AUTO_TEST_CASE(list_unsubscribe_lines_stay_under_the_limit) {
    MilterFixture f;
    TokenKeys keys = TokenKeys::load(f.cfg.tracking.secret_file);
    const int64_t now = now_seconds();
    auto check = [&](const std::vector<milter::Header>& hs) {
        for (const auto& h : hs) {
            auto ls = lines(h.name + ": " + h.value);
            for (const auto& l : ls) BOOST_TEST(l.size() <= milter::kMaxHeaderLine, h.name << ": " << l.size());
        }
    };
    // An ordinary recipient: one-click and mailto, folded at the comma.
    auto links = milter::unsubscribe_links(f.cfg, keys, "example.com", "t.relay.test", {"<a@example.net>"},
                                           "4QTEST", now);
    auto hs = milter::unsubscribe_headers(links);
    BOOST_REQUIRE(hs.size() == 2u);
    BOOST_TEST(lines(hs[0].value).size() == 2u);
    BOOST_TEST(hs[0].value.find(">,\n <mailto:") != std::string::npos);
    check(hs);
    // Recipient addresses long enough to put the one-click line between 900
    // and 998 octets (990: Sendmail's esmtp mailer folds it after signing).
    bool dropped = false;
    for (size_t local = 40; local <= 64; local += 4) {
        for (size_t labels = 1; labels <= 4; ++labels) {
            std::string host;  // labels of 40 octets (at most 63 each)
            for (size_t i = 0; i < labels; ++i) host += std::string(40, char('h' + i)) + ".";
            const std::string rcpt = "<" + std::string(local, 'r') + "@" + host + "example>";
            links = milter::unsubscribe_links(f.cfg, keys, "example.com", "t.relay.test", {rcpt}, "4QTEST", now);
            hs = milter::unsubscribe_headers(links);
            BOOST_REQUIRE(!hs.empty());
            check(hs);
            BOOST_TEST(hs[0].value.find("mailto:") != std::string::npos);
            if (links.https.size() + sizeof("List-Unsubscribe: <>,") - 1 > milter::kMaxHeaderLine) {
                dropped = true;
                BOOST_TEST(hs.size() == 1u);  // no one-click without its URL
                BOOST_TEST(hs[0].value.find("https:") == std::string::npos);
            } else {
                BOOST_TEST(hs.size() == 2u);
            }
        }
    }
    // A one-click URL too long for its line (a long tracking host as well):
    // left out, with List-Unsubscribe-Post; the mailto URI stays.
    milter::UnsubscribeLinks longer = links;
    longer.https = "https://t.relay.test/u/" + std::string(900, 'x');
    hs = milter::unsubscribe_headers(longer);
    BOOST_REQUIRE(hs.size() == 1u);
    BOOST_TEST(hs[0].value == "<" + links.mailto + ">");
    check(hs);
    (void)dropped;
    // Forty recipients (a mailto token's most): still one short line.
    std::vector<std::string> many;
    for (int i = 0; i < 40; ++i) many.push_back("<rcpt" + std::to_string(i) + "@example.net>");
    links = milter::unsubscribe_links(f.cfg, keys, "example.com", "t.relay.test", many, "4QTEST", now);
    hs = milter::unsubscribe_headers(links);
    BOOST_REQUIRE(hs.size() == 1u);
    check(hs);
}
