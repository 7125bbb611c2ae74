// test_reports.cpp - DSN and ARF reading: real-world shapes and hostile input.
#define BOOST_TEST_MODULE reports
#include <boost/test/unit_test.hpp>
#include <chrono>

#include "control/lib/reports.h"
#include "store/secrets.h"
#include "testutil.h"

using namespace outpost;
using namespace std::string_literals;

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

// RFC 2045 base64 in 76-column lines (secrets.h has the URL alphabet).
std::string base64_lines(const std::string& bytes) {
    std::string b = base64url(bytes);
    for (auto& c : b) c = c == '-' ? '+' : c == '_' ? '/' : c;
    while (b.size() % 4) b += '=';
    std::string out;
    for (size_t i = 0; i < b.size(); i += 76) out += b.substr(i, 76) + "\r\n";
    return out;
}

const std::string kGroup = "Reporting-MTA: dns; relay.test\r\n\r\n";

std::string one_recipient(const std::string& final_recipient, const std::string& status = "5.1.1") {
    return kGroup + "Final-Recipient: " + final_recipient + "\r\nAction: failed\r\nStatus: " + status +
           "\r\n";
}

// An Exim text bounce around `addresses` (the indented block).
std::string exim_with(const std::string& addresses) {
    return "From: Mail Delivery System <Mailer-Daemon@exim.test>\r\nSubject: Mail delivery failed: "
           "returning message to sender\r\n\r\nThe mail system gave up. The following address(es) "
           "failed:\r\n\r\n" +
           addresses + "\r\n";
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
        {"exim-dsn.eml",
         "rfc3464",
         {"gone.user@example.net"},
         {"failed"},
         {"5.0.0"},
         "550 5.1.1 <gone.user@example.net>: no mailbox",
         kVerp,
         "news@news.example",
         "news.example"},
        {"exim-delayed.eml",
         "exim-text",
         {"slow.host@example.net"},
         {"delayed"},
         {"4.7.1"},
         "451 4.7.1 Greylisted",
         "",
         "",
         ""},
        {"qmail-text.eml",
         "qmail-text",
         {"lost@example.org", "local.gone@qmail.example.org"},
         {"failed", "failed"},
         {"5.1.1", "5.1.1"},
         "550 5.1.1 <lost@example.org>: Recipient address rejected: no such user",
         kVerp,
         "news@news.example",
         "news.example"},
        {"postfix-two-recipients.eml",
         "rfc3464",
         {"member@lists.example.org", "strict@policy.example"},
         {"failed", "failed"},
         {"5.1.1", "5.7.1"},
         "550 5.1.1 <member@lists.example.org>: mailbox unavailable",
         kVerp,
         "news@news.example",
         "news.example"},
        {"gateway-base64.eml",
         "rfc3464",
         {"departed.user@corp.example"},
         {"failed"},
         {"5.1.10"},
         "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found",
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
                BOOST_TEST_REQUIRE(d.original.dkim.size() >= 1u);
                BOOST_TEST(d.original.dkim[0].first == w.dkim_d);
                BOOST_TEST(d.original.dkim[0].second == "op20261201");
            }
        }
    const Dsn p = parse_dsn(sample("postfix-5.1.1.eml"));
    BOOST_TEST(p.reporting_mta == "relay.example.net");
    BOOST_TEST(p.recipients[0].remote_mta == "mx.example.org");
    BOOST_TEST(p.recipients[0].original_recipient == "nobody.here@example.org");
    BOOST_TEST(p.arrival_date == "Tue, 1 Dec 2026 10:00:01 +0000 (UTC)");
    BOOST_TEST(p.original.message_id == "spring-1@news.example");
    BOOST_TEST(!p.recipients[0].status_inferred);

    // Sendmail: a recipient that was delivered is reported too; Remote-MTA's "DNS;" type goes.
    const Dsn s = parse_dsn(sample("sendmail-5.2.2.eml"));
    BOOST_TEST(s.reporting_mta == "mta.example.com");
    BOOST_TEST(s.recipients[0].remote_mta == "store.example.com");
    BOOST_TEST(s.original.from == "news@news.example");  // From: =?UTF-8?Q?Caf=C3=A9_News?= <...>

    // Exim's DSN says 5.0.0 over the server's 5.1.1: diagnostic_status keeps the latter.
    const Dsn e = parse_dsn(sample("exim-dsn.eml"));
    BOOST_TEST(e.recipients[0].diagnostic_status == "5.1.1");
    BOOST_TEST(e.recipients[0].remote_mta == "mx1.example.net");
    BOOST_TEST_REQUIRE(e.original.list_unsubscribe.size() == 1u);
    BOOST_TEST(e.original.list_unsubscribe[0] ==
               "<https://t.relay.example.net/u/2AbCd>, "
               "<mailto:unsubscribe@relay.example.net?subject=unsubscribe%202AbCd>");

    // Exim's text: the reply gives the status; without an enhanced code it is the class, marked inferred.
    const Dsn x = parse_dsn(sample("exim-text.eml"));
    BOOST_TEST(x.recipients[0].remote_mta == "mx1.example.net");
    BOOST_TEST(!x.recipients[0].status_inferred);
    BOOST_TEST(x.recipients[1].status_inferred);
    BOOST_TEST(x.recipients[1].diagnostic == "554 message refused for policy reasons");
    BOOST_TEST(x.original.to == "gone.user@example.net");
    const Dsn w = parse_dsn(sample("exim-delayed.eml"));
    BOOST_TEST(w.recipients[0].remote_mta == "mx.example.net");
    BOOST_TEST(w.original.return_path.empty());  // a warning quotes no original

    // qmail: remote host from its own lines, "(#5.1.1)" as a status, the copy after its marker.
    const Dsn q = parse_dsn(sample("qmail-text.eml"));
    BOOST_TEST(q.reporting_mta == "qmail.example.org");
    BOOST_TEST(q.recipients[0].remote_mta == "192.0.2.70");
    BOOST_TEST(q.recipients[1].diagnostic == "No mailbox here answers to that name. (#5.1.1)");
    BOOST_TEST(!q.recipients[1].status_inferred);
    BOOST_TEST(q.original.message_id == "spring-4@news.example");

    // Postfix, LF line ends: an expanded alias, a folded diagnostic, text/rfc822-headers with an
    // encoded-word From, a Return-Path whose local part keeps its case and two DKIM signatures.
    const Dsn t = parse_dsn(sample("postfix-two-recipients.eml"));
    BOOST_TEST(t.recipients[0].original_recipient == "team@lists.example.org");
    BOOST_TEST(t.recipients[1].diagnostic ==
               "554 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using dnsbl.policy.example");
    BOOST_TEST(t.original.from == "news@news.example");
    BOOST_TEST(t.original.to == "team@lists.example.org");
    BOOST_TEST_REQUIRE(t.original.dkim.size() == 2u);
    BOOST_TEST(t.original.dkim[1].first == "esp.example");
    BOOST_TEST(t.original.dkim[1].second == "shared1");
    BOOST_TEST(t.original.list_unsubscribe.size() == 1u);

    // A gateway's base64 delivery-status part.
    const Dsn g = parse_dsn(sample("gateway-base64.eml"));
    BOOST_TEST(g.reporting_mta == "gw1p281mb0042.mail.corp.example");
    BOOST_TEST(g.recipients[0].diagnostic_status == "5.1.10");
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
    const Arf abuse = parse_arf(sample("arf-abuse.eml"));
    BOOST_TEST(abuse.source_ip == "192.0.2.10");
    BOOST_TEST(abuse.user_agent == "ExampleFBL/2.1");
    BOOST_TEST(abuse.version == "1");
    BOOST_TEST(abuse.reporting_mta == "mail.isp.example");
    BOOST_TEST(abuse.arrival_date == "Tue, 1 Dec 2026 10:00:01 +0000");
    BOOST_TEST(abuse.original.return_path == kVerp);
    BOOST_TEST(abuse.original.message_id == "spring-7@news.example");
    BOOST_TEST(parse_arf(sample("arf-provider.eml")).user_agent == "BigMail-CFL/1.0");  // base64 part
    // Several Original-Rcpt-To, another feedback type, no original part.
    const std::string several =
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=F\r\n\r\n"
        "--F\r\nContent-Type: text/plain\r\n\r\nnot spam after all\r\n--F\r\n"
        "Content-Type: message/feedback-report\r\n\r\nFeedback-Type: Not-Spam\r\nVersion: 1\r\n"
        "Original-Rcpt-To: <A@Example.org>\r\nOriginal-Rcpt-To: junk\r\nOriginal-Rcpt-To: b@example.org\r\n"
        "Original-Mail-From: <>\r\n--F--\r\n";
    const Arf ns = parse_arf(several);
    BOOST_TEST_REQUIRE(ns.ok, ns.error);
    BOOST_TEST(ns.feedback_type == "not-spam");
    BOOST_TEST(ns.original_rcpt_to == "a@example.org");
    BOOST_TEST(ns.original_rcpts == (std::vector<std::string>{"a@example.org", "b@example.org"}));
    BOOST_TEST(ns.original_mail_from.empty());
    BOOST_TEST(ns.original.from.empty());
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
    // 100,000 levels: GMime stops at its nesting limit; nothing overflows.
    std::string deeper = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n";
    for (int i = 1; i < 100000; ++i)
        deeper += "--b" + std::to_string(i - 1) + "\r\nContent-Type: multipart/mixed; boundary=b" +
                  std::to_string(i) + "\r\n\r\n";
    BOOST_TEST(!parse_dsn(deeper).ok);
    // A report forwarded inside two multipart/mixed levels is still found.
    const std::string inner = dsn_with(good);
    const std::string wrapped =
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=W1\r\n\r\n--W1\r\n"
        "Content-Type: multipart/mixed; boundary=W2\r\n\r\n--W2\r\n" +
        inner.substr(inner.find("Content-Type: multipart/report")) + "\r\n--W2--\r\n--W1--\r\n";
    BOOST_TEST(parse_dsn(wrapped).ok, parse_dsn(wrapped).error);
}

BOOST_AUTO_TEST_CASE(hostile_fields_give_empty_values_never_garbage) {
    // "5.1.1 extra" is malformed; a parenthesised comment is allowed.
    struct Status {
        std::string field, want;
    };
    for (const auto& [field, want] : {Status{"5.1.1 extra", ""}, Status{"5.1.1 (no such user)", "5.1.1"},
                                      Status{"4.999.999", "4.999.999"}, Status{"5.1000.1", ""},
                                      Status{"2.0.0", "2.0.0"}, Status{"5.1.1(", ""}})
        BOOST_TEST_CONTEXT(field) {
            const Dsn d = parse_dsn(dsn_with(one_recipient("rfc822; a@example.org", field)));
            BOOST_TEST_REQUIRE(d.ok, d.error);
            BOOST_TEST(d.recipients[0].status == want);
        }
    // Final-Recipient without a type, or with NUL or a bare CR: no recipient at all.
    struct Case {
        const char* label;
        std::string group;
        size_t skipped;
    };
    const Case refused[] = {
        {"no type", one_recipient("a@example.org"), 0},
        {"NUL after the address", one_recipient("rfc822; a@example.org\0junk"s), 1},
        {"NUL before the @", one_recipient("rfc822; a\0@example.org"s), 1},
        {"bare CR", one_recipient("rfc822; a@example.org\rX-Junk: b@example.net"), 1},
        {"321 octets", one_recipient("rfc822; " + std::string(321 - 12, 'a') + "@example.org"), 0},
        {"no @", one_recipient("rfc822; postmaster"), 0},
        {"angle brackets inside", one_recipient("rfc822; <a@<b>.example>"), 0},
        {"utf-8 type", one_recipient("utf-8; a@example.org"), 0},
    };
    for (const auto& c : refused) BOOST_TEST_CONTEXT(c.label) {
            const Dsn d = parse_dsn(dsn_with(c.group));
            BOOST_TEST(!d.ok);
            BOOST_TEST(d.recipients.empty());
            BOOST_TEST(d.skipped == c.skipped);
            BOOST_TEST(!d.error.empty());
        }
    // 320 octets is the limit, not beyond it.
    const std::string longest = std::string(320 - 12, 'a') + "@example.org";
    const Dsn at_limit = parse_dsn(dsn_with(one_recipient("rfc822; " + longest)));
    BOOST_TEST_REQUIRE(at_limit.ok);
    BOOST_TEST(at_limit.recipients[0].final_recipient == longest);
    // A junk group next to a good one: the good one is read, the junk one counted.
    const Dsn mixed =
        parse_dsn(dsn_with(one_recipient("rfc822; good@example.org") + "\r\n" +
                           "Final-Recipient: rfc822; bad@exa\0mple.org\r\nAction: failed\r\n"s));
    BOOST_TEST_REQUIRE(mixed.ok);
    BOOST_TEST(mixed.recipients.size() == 1u);
    BOOST_TEST(mixed.skipped == 1u);
    // A diagnostic is one line of at most 500 octets, cut on a UTF-8 boundary.
    std::string long_diag;
    for (int i = 0; i < 300; ++i) long_diag += "\xc3\xa9";  // é, two octets
    const Dsn diag = parse_dsn(dsn_with(one_recipient("rfc822; a@example.org") +
                                        "Diagnostic-Code: smtp; 550 x" + long_diag + "\r\n"));
    BOOST_TEST_REQUIRE(diag.ok);
    const std::string& dg = diag.recipients[0].diagnostic;
    BOOST_TEST(dg.size() <= 500u);
    BOOST_TEST(dg.size() >= 490u);
    BOOST_TEST((static_cast<unsigned char>(dg.back()) & 0xc0) == 0x80);  // ends on a whole sequence
    BOOST_TEST((static_cast<unsigned char>(dg[dg.size() - 2]) & 0xe0) == 0xc0);
    // A ";" inside a diagnostic without a type is text, not a type.
    const Dsn untyped = parse_dsn(dsn_with(one_recipient("rfc822; a@example.org") +
                                           "Diagnostic-Code: 550 user unknown; try later\r\n"));
    BOOST_TEST(untyped.recipients[0].diagnostic == "550 user unknown; try later");
    // An ARF whose Feedback-Type is not a token.
    const std::string bad_type =
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=F\r\n\r\n"
        "--F\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse; x=<y>\r\n--F--\r\n";
    BOOST_TEST(!parse_arf(bad_type).ok);
}

BOOST_AUTO_TEST_CASE(transfer_encodings_are_undone_by_gmime) {
    const std::string body = one_recipient("rfc822; someone@example.org");
    const std::string b64 = base64_lines(body);
    const Dsn d = parse_dsn(
        dsn_with(b64, "delivery-status", "message/delivery-status\r\nContent-Transfer-Encoding: base64"));
    BOOST_TEST_REQUIRE(d.ok, d.error);
    BOOST_TEST(d.recipients[0].final_recipient == "someone@example.org");
    // Cut mid-quantum (inside the address): refused, not read as "someone@exa".
    std::string cut = b64.substr(0, b64.find("\r\n") + 2);
    cut += b64.substr(cut.size(), 30);
    const Dsn t = parse_dsn(
        dsn_with(cut, "delivery-status", "message/delivery-status\r\nContent-Transfer-Encoding: base64"));
    BOOST_TEST(!t.ok);
    BOOST_TEST(t.error.find("truncated") != std::string::npos, t.error);
    // Quoted-printable, with a soft line break inside the address.
    const Dsn qp = parse_dsn(dsn_with(
        kGroup + "Final-Recipient: rfc822; some=\r\none@example.org\r\n"
                 "Action: failed\r\nStatus: 5.1.1\r\n",
        "delivery-status", "message/delivery-status\r\nContent-Transfer-Encoding: quoted-printable"));
    BOOST_TEST_REQUIRE(qp.ok, qp.error);
    BOOST_TEST(qp.recipients[0].final_recipient == "someone@example.org");
}

BOOST_AUTO_TEST_CASE(text_bounces_survive_hostile_lines) {
    // One reply line of 1 MB (a regex matcher would overflow its stack here).
    const Dsn d = parse_dsn(exim_with("  a@example.org\r\n    550 5.1.1 " + std::string(1 << 20, 'x')));
    BOOST_TEST_REQUIRE(d.ok, d.error);
    BOOST_TEST(d.recipients[0].status == "5.1.1");
    BOOST_TEST(d.recipients[0].diagnostic.size() <= 500u);
    // Addresses the list cannot use are passed over; a list without one is no bounce.
    const Dsn junk = parse_dsn(exim_with("  |/usr/bin/procmail\r\n    generated by a@b\r\n  " +
                                         std::string(400, 'a') + "@example.org\r\n    550 x"));
    BOOST_TEST(!junk.ok);
    BOOST_TEST(junk.recipients.empty());
    // Unrouteable: no reply, the class of the bounce, marked inferred.
    const Dsn unroutable = parse_dsn(exim_with("  a@nowhere.example\r\n    Unrouteable address"));
    BOOST_TEST_REQUIRE(unroutable.ok);
    BOOST_TEST(unroutable.recipients[0].status == "5.0.0");
    BOOST_TEST(unroutable.recipients[0].status_inferred);
    BOOST_TEST(unroutable.recipients[0].diagnostic == "Unrouteable address");
    // Exim's older one-line form "host H [IP]: 550 ...".
    const Dsn one =
        parse_dsn(exim_with("  a@example.org\r\n    host mx.example.org [192.0.2.1]: 550 5.2.1 disabled"));
    BOOST_TEST(one.recipients[0].status == "5.2.1");
    BOOST_TEST(one.recipients[0].diagnostic == "550 5.2.1 disabled");
    BOOST_TEST(one.recipients[0].remote_mta == "mx.example.org");
    // 10,000 addresses in a text bounce: capped as well.
    std::string many;
    for (int i = 0; i < 10000; ++i)
        many += "  r" + std::to_string(i) + "@example.org\r\n    550 5.1.1 no\r\n";
    const Dsn capped = parse_dsn(exim_with(many));
    BOOST_TEST(capped.truncated);
    BOOST_TEST(capped.recipients.size() == kMaxReportRecipients);
    // A plain message that merely mentions "failed:" is not a bounce.
    BOOST_TEST(!parse_dsn("Subject: status\r\n\r\nThe build failed:\r\nsee the log\r\n").ok);
}

BOOST_AUTO_TEST_CASE(size_limit_is_exact_and_large_reports_are_fast) {
    const std::string head = dsn_with(one_recipient("rfc822; a@example.org"));
    // A report just under the limit with a big original: read, quickly.
    std::string big = head.substr(0, head.rfind("--BB--")) +
                      "--BB\r\nContent-Type: message/rfc822\r\n\r\nReturn-Path: <r@example.com>\r\n"
                      "From: f@example.com\r\n\r\n";
    const std::string line(998, 'y');
    while (big.size() + 1000 + 10 < kMaxReportBytes) big += line + "\r\n";
    big += "--BB--\r\n";
    BOOST_TEST_REQUIRE(big.size() <= kMaxReportBytes);
    const auto t0 = std::chrono::steady_clock::now();
    const Dsn d = parse_dsn(big);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    BOOST_TEST_MESSAGE("10 MB DSN read in " << s << " s");
    BOOST_TEST_REQUIRE(d.ok, d.error);
    BOOST_TEST(d.original.return_path == "r@example.com");
    BOOST_TEST(s < 2.0);
    // One octet more is refused unread.
    big.insert(big.size() - 8, std::string(kMaxReportBytes + 1 - big.size(), 'z'));
    BOOST_TEST_REQUIRE(big.size() == kMaxReportBytes + 1);
    const Dsn over = parse_dsn(big);
    BOOST_TEST(!over.ok);
    BOOST_TEST(over.error.find("10 MB") != std::string::npos);
    BOOST_TEST(!parse_arf(big).ok);
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
    BOOST_TEST(s < 1.0);
}
