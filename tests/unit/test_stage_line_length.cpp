// test_stage_line_length.cpp - mail outpost signs never has a line the MTA
// would split after signing: header lines and body lines over 998 octets
// (990 under Sendmail) are refused with LINE_TOO_LONG naming the line,
// whatever the chunking of the body; shorter lines, folded long headers and
// unmanaged mail pass.
#define BOOST_TEST_MODULE stage_line_length
#include <boost/test/unit_test.hpp>

#include "milter_fixture.h"

using namespace outpost;
using namespace outpost::test;

namespace {

std::vector<std::pair<std::string, std::string>> headers(const std::string& subject = "a test") {
    return {{"From", " app@example.com"},
            {"To", " rcpt@example.net"},
            {"Subject", " " + subject},
            {"Date", " Sun, 22 Nov 2026 10:00:00 +0000"},
            {"Message-ID", " <t1@client.test>"}};
}

struct Fixture {
    MilterFixture f;
    Fixture() {
        f.add_verified("example.com");
        f.add_key("app", sasl_key("app"));
    }
    Delivery send(const std::string& body, size_t chunk = 7, const std::string& subject = "a test",
                  bool sendmail = false) {
        Send s;
        s.sasl = "app";
        s.headers = headers(subject);
        s.body = body;
        s.chunk = chunk;
        s.sendmail = sendmail;
        return send_message(f.runtime(), s);
    }
};

void refused(const milter::StageResult& r, const std::string& words) {
    BOOST_TEST(r.code == "550");
    BOOST_TEST(r.xcode == "5.6.0");
    BOOST_TEST(r.token == "LINE_TOO_LONG");
    BOOST_TEST(r.text.find(words) != std::string::npos, r.text);
}

}  // namespace

BOOST_AUTO_TEST_CASE(body_lines_up_to_998_octets_pass_and_longer_are_refused) {
    Fixture x;
    const std::string ok = "first\r\n" + std::string(998, 'a') + "\r\nlast\r\n";
    const std::string bad = "first\r\nsecond\r\n" + std::string(999, 'b') + "\r\nlast\r\n";
    for (size_t chunk : {size_t(1), size_t(7), size_t(998), size_t(999), size_t(1000), size_t(65536)}) {
        BOOST_TEST_CONTEXT("chunk " << chunk) {
            Delivery d = x.send(ok, chunk);
            BOOST_TEST(d.eom.is_next(), d.eom.text);
            Delivery r = x.send(bad, chunk);
            BOOST_TEST(r.eoh.is_next());
            refused(r.eom, "line 3 of the body is 999 octets");
            BOOST_TEST(r.mta.headers.size() == 5u);  // nothing added: not signed
        }
    }
}

BOOST_AUTO_TEST_CASE(the_line_is_measured_without_its_crlf_and_a_last_line_counts) {
    Fixture x;
    // A bare LF ends a line too; a CR alone does not.
    refused(x.send("x\n" + std::string(999, 'c') + "\n", 3).eom, "line 2 of the body is 999 octets");
    refused(x.send(std::string(500, 'd') + "\r" + std::string(500, 'd') + "\r\n", 3).eom,
            "line 1 of the body is 1001 octets");
    // The last line without CRLF.
    refused(x.send("ok\r\n" + std::string(1200, 'e'), 64).eom, "line 2 of the body is 1200 octets");
    BOOST_TEST(x.send("ok\r\n" + std::string(998, 'e'), 64).eom.is_next());
    // Only the first long line is named.
    refused(x.send(std::string(1500, 'f') + "\r\n" + std::string(2000, 'g') + "\r\n").eom,
            "line 1 of the body is 1500 octets");
}

BOOST_AUTO_TEST_CASE(header_lines_over_the_limit_are_refused_at_end_of_headers) {
    Fixture x;
    // "Subject: " is 9 octets: 989 more make 998.
    BOOST_TEST(x.send("Hi.\r\n", 7, std::string(989, 's')).eoh.is_next());
    Delivery r = x.send("Hi.\r\n", 7, std::string(1200, 's'));
    refused(r.eoh, "header Subject is 1209 octets on one line");
    // Folded, the same length passes; one long folded line is named.
    std::string folded;
    for (int i = 0; i < 12; ++i) folded += (i ? "\r\n " : "") + std::string(100, 'w');
    BOOST_TEST(x.send("Hi.\r\n", 7, folded).eoh.is_next());
    refused(x.send("Hi.\r\n", 7, "short\r\n " + std::string(1000, 'z')).eoh,
            "header Subject (line 2 of it) is 1001 octets");
}

BOOST_AUTO_TEST_CASE(sendmail_splits_at_990) {
    Fixture x;
    const std::string body = std::string(995, 'h') + "\r\n";
    BOOST_TEST(x.send(body, 7, "a test", false).eom.is_next());
    refused(x.send(body, 7, "a test", true).eom, "at most 990");
}

BOOST_AUTO_TEST_CASE(mail_outpost_does_not_sign_is_not_judged) {
    MilterFixture f("milter:\n  unmanaged: pass\n");
    Send s;
    s.headers = headers();
    s.headers[0].second = " someone@unmanaged.example";
    s.body = std::string(5000, 'u') + "\r\n";
    s.headers[2].second = " " + std::string(1500, 'v');
    Delivery d = send_message(f.runtime(), s);
    // Passed untouched at end of headers (milter.unmanaged: pass): neither
    // the long Subject nor the long body line is outpost's to refuse.
    BOOST_TEST(d.eoh.token == "unmanaged", d.eoh.text);
    BOOST_TEST(d.eoh.code.empty(), d.eoh.code);
}
