// test_reports.cpp - DSN and ARF reading: real-world shapes and hostile input.
#define BOOST_TEST_MODULE reports
#include <boost/test/unit_test.hpp>
#include <chrono>

#include "control/lib/reports.h"
#include "testutil.h"

using namespace outpost;

namespace {

std::string sample(const std::string& name) {
    return test::read_file(std::string(OUTPOST_SOURCE_DIR) + "/tests/data/reports/" + name);
}

const std::string kVerp = "bounces+2AbCd.TOKEN@bounce.news.example";

// A multipart/report around `status` (the delivery-status part's text).
std::string dsn_with(const std::string& status, const std::string& report_type = "delivery-status",
                     const std::string& status_type = "message/delivery-status") {
    return "From: MAILER-DAEMON@relay.test\r\nTo: x@y.test\r\nSubject: bounce\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/report; report-type=" +
           report_type +
           "; boundary=\"BB\"\r\n\r\n--BB\r\nContent-Type: "
           "text/plain\r\n\r\nfailed\r\n--BB\r\nContent-Type: " +
           status_type + "\r\n\r\n" + status + "\r\n--BB--\r\n";
}

}  // namespace

BOOST_AUTO_TEST_CASE(real_world_dsns) {
    struct Want {
        std::string file, format;
        std::vector<std::string> rcpt, action, status;
        std::string diagnostic_start, return_path, from, dkim_d;
    };
    const Want cases[] = {
        {"postfix-5.1.1.eml",
         "rfc3464",
         {"nobody.here@example.org"},
         {"failed"},
         {"5.1.1"},
         "550 5.1.1 <nobody",
         kVerp,
         "news@news.example",
         "news.example"},
        {"postfix-delayed.eml",
         "rfc3464",
         {"slow@example.org"},
         {"delayed"},
         {"4.4.1"},
         "connect to",
         kVerp,
         "news@news.example",
         ""},
        {"sendmail-5.2.2.eml",
         "rfc3464",
         {"full.box@example.com", "fine@example.com"},
         {"failed", "delivered"},
         {"5.2.2", "2.0.0"},
         "552 5.2.2 Mailbox full",
         kVerp,
         "news@news.example",
         ""},
        {"exim-text.eml",
         "exim-text",
         {"gone.user@example.net", "other@example.net"},
         {"failed", "failed"},
         {"5.1.1", "5.0.0"},
         "550 5.1.1",
         kVerp,
         "news@news.example",
         "news.example"},
    };
    for (const auto& w : cases) BOOST_TEST_CONTEXT(w.file) {
            const Dsn d = parse_dsn(sample(w.file));
            BOOST_TEST_REQUIRE(d.ok, d.error);
            BOOST_TEST(d.format == w.format);
            BOOST_TEST_REQUIRE(d.recipients.size() == w.rcpt.size());
            for (size_t i = 0; i < w.rcpt.size(); ++i) {
                BOOST_TEST(d.recipients[i].final_recipient == w.rcpt[i]);
                BOOST_TEST(d.recipients[i].action == w.action[i]);
                BOOST_TEST(d.recipients[i].status == w.status[i]);
            }
            BOOST_TEST(d.recipients[0].diagnostic.rfind(w.diagnostic_start, 0) == 0u,
                       d.recipients[0].diagnostic);
            BOOST_TEST(d.recipients[0].diagnostic.find('\n') == std::string::npos);
            BOOST_TEST(d.original.return_path == w.return_path);
            BOOST_TEST(d.original.from == w.from);
            if (!w.dkim_d.empty()) {
                BOOST_TEST_REQUIRE(d.original.dkim.size() == 1u);
                BOOST_TEST(d.original.dkim[0].first == w.dkim_d);
                BOOST_TEST(d.original.dkim[0].second == "op20261201");
            }
        }
    const Dsn p = parse_dsn(sample("postfix-5.1.1.eml"));
    BOOST_TEST(p.reporting_mta == "relay.example.net");
    BOOST_TEST(p.recipients[0].remote_mta == "mx.example.org");
    BOOST_TEST(p.recipients[0].original_recipient == "nobody.here@example.org");
}

BOOST_AUTO_TEST_CASE(real_world_arfs) {
    struct Want {
        std::string file, type, mail_from, rcpt, reported, dkim_d, dkim_s, from;
    };
    const Want cases[] = {
        {"arf-abuse.eml", "abuse", kVerp, "reader@example.org", "news.example", "news.example", "op20261201",
         "news@news.example"},
        {"arf-headers-only.eml", "abuse", "", "redacted@mailbox.example", "", "news.example", "op20261201",
         "news@news.example"},
        {"arf-provider.eml", "abuse", kVerp, "someone@bigmail.example", "news.example", "news.example",
         "op20261201", "news@news.example"},
    };
    for (const auto& w : cases) BOOST_TEST_CONTEXT(w.file) {
            const Arf a = parse_arf(sample(w.file));
            BOOST_TEST_REQUIRE(a.ok, a.error);
            BOOST_TEST(a.feedback_type == w.type);
            BOOST_TEST(a.original_mail_from == w.mail_from);
            BOOST_TEST(a.original_rcpt_to == w.rcpt);
            BOOST_TEST(a.reported_domain == w.reported);
            BOOST_TEST_REQUIRE(a.original.dkim.size() == 1u);
            BOOST_TEST(a.original.dkim[0].first == w.dkim_d);
            BOOST_TEST(a.original.dkim[0].second == w.dkim_s);
            BOOST_TEST(a.original.from == w.from);
        }
    BOOST_TEST(parse_arf(sample("arf-abuse.eml")).source_ip == "192.0.2.10");
    // A DSN is not a feedback report, and the other way round.
    BOOST_TEST(!parse_arf(sample("postfix-5.1.1.eml")).ok);
    BOOST_TEST(!parse_dsn(sample("arf-abuse.eml")).ok);
}

BOOST_AUTO_TEST_CASE(malformed_reports_are_refused_without_harm) {
    const std::string group = "Reporting-MTA: dns; relay.test\r\n\r\n";
    const std::string good =
        group + "Final-Recipient: rfc822; a@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n";
    BOOST_TEST(parse_dsn(dsn_with(good)).ok);
    struct Case {
        const char* label;
        std::string message;
    };
    const Case refused[] = {
        {"empty", ""},
        {"not mail", std::string("\0\1\2garbage", 10)},
        {"plain text", "Subject: hi\r\n\r\nhello\r\n"},
        {"wrong report-type", dsn_with(good, "feedback-report")},
        {"no delivery-status part", dsn_with(good, "delivery-status", "text/plain")},
        {"no per-recipient group", dsn_with("Reporting-MTA: dns; relay.test\r\n")},
        {"recipient of another type",
         dsn_with(group + "Final-Recipient: x400; /C=US/\r\nAction: failed\r\n")},
        {"recipient with junk",
         dsn_with(group + "Final-Recipient: rfc822; a\x01@b.test\r\nAction: failed\r\n")},
        {"no action", dsn_with(group + "Final-Recipient: rfc822; a@example.org\r\nStatus: 5.1.1\r\n")},
        {"huge address", dsn_with(group + "Final-Recipient: rfc822; " + std::string(400, 'a') +
                                  "@example.org\r\nAction: failed\r\n")},
        {"over 10 MB", dsn_with(good) + std::string(kMaxReportBytes, 'x')},
        {"no closing boundary",
         "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; "
         "boundary=Q\r\n\r\n--Q\r\n"
         "Content-Type: text/plain\r\n\r\nx\r\n"},
    };
    for (const auto& c : refused) BOOST_TEST_CONTEXT(c.label) {
            const Dsn d = parse_dsn(c.message);
            BOOST_TEST(!d.ok);
            BOOST_TEST(!d.error.empty());
            BOOST_TEST(d.recipients.empty());
        }
    // Malformed statuses leave the status empty (never a guessed class).
    for (const std::string st : {"5.1", "9.9.9", "5.1.1.1", "x.1.1", ""}) {
        const Dsn d = parse_dsn(dsn_with(
            group + "Final-Recipient: rfc822; a@example.org\r\nAction: failed\r\nStatus: " + st + "\r\n"));
        BOOST_TEST_REQUIRE(d.ok);
        BOOST_TEST(d.recipients[0].status.empty(), st);
    }
    // The original part may be missing: the report is still read.
    const Dsn d = parse_dsn(dsn_with(good));
    BOOST_TEST(d.original.return_path.empty());
    // ARF without a Feedback-Type, or without the report part.
    const std::string arf_head =
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; "
        "boundary=F\r\n\r\n";
    BOOST_TEST(
        !parse_arf(arf_head + "--F\r\nContent-Type: message/feedback-report\r\n\r\nVersion: 1\r\n--F--\r\n")
             .ok);
    BOOST_TEST(!parse_arf(arf_head + "--F\r\nContent-Type: text/plain\r\n\r\nx\r\n--F--\r\n").ok);
    // Deep nesting never reaches a report.
    std::string deep = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n";
    for (int i = 1; i < 200; ++i)
        deep += "--b" + std::to_string(i - 1) + "\r\nContent-Type: multipart/mixed; boundary=b" +
                std::to_string(i) + "\r\n\r\n";
    BOOST_TEST(!parse_dsn(deep).ok);
    BOOST_TEST(!parse_arf(deep).ok);
}

BOOST_AUTO_TEST_CASE(ten_thousand_recipients_are_capped_and_fast) {
    std::string status = "Reporting-MTA: dns; relay.test\r\n";
    for (int i = 0; i < 10000; ++i)
        status += "\r\nFinal-Recipient: rfc822; r" + std::to_string(i) +
                  "@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n";
    const auto t0 = std::chrono::steady_clock::now();
    const Dsn d = parse_dsn(dsn_with(status));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    BOOST_TEST_MESSAGE("10,000-recipient DSN read in " << s << " s");
    BOOST_TEST(d.ok);
    BOOST_TEST(d.truncated);
    BOOST_TEST(d.recipients.size() == kMaxReportRecipients);
    BOOST_TEST(s < 5.0);
}
