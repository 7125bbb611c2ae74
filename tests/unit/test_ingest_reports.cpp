// test_ingest_reports.cpp - bounces and complaints applied: what is
// suppressed, counted and suspended, and what is refused.
#define BOOST_TEST_MODULE ingest_reports
#include <boost/test/unit_test.hpp>

#include "control/lib/ingest_reports.h"
#include "milter/stages/return_path.h"
#include "milter_fixture.h"
#include "store/stats.h"

using namespace outpost;

namespace {

struct Fixture : test::MilterFixture {
    TokenKeys keys = TokenKeys::load(cfg.tracking.secret_file);
    int64_t now = now_seconds();
    Domain d;

    Fixture() { d = add_verified("news.example"); }

    std::string verp(const std::vector<std::string>& rcpts, const std::string& domain = "news.example") {
        return milter::verp_address(cfg, keys, domain, "app@" + domain, rcpts, "4F2A21C0A45", now);
    }
    // A Postfix-shaped DSN about `rcpt` with `status`.
    static std::string dsn(const std::string& rcpt, const std::string& status,
                           const std::string& action = "failed", const std::string& return_path = "") {
        return "From: MAILER-DAEMON@relay.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
               "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; "
               "boundary=\"BB\"\r\n\r\n--BB\r\nContent-Type: text/plain\r\n\r\nnot delivered\r\n"
               "--BB\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; relay.test\r\n\r\n"
               "Final-Recipient: rfc822; " +
               rcpt + "\r\nAction: " + action + "\r\nStatus: " + status + "\r\nDiagnostic-Code: smtp; " +
               status + " refused\r\n\r\n--BB\r\nContent-Type: text/rfc822-headers\r\n\r\n" +
               (return_path.empty() ? "" : "Return-Path: <" + return_path + ">\r\n") +
               "From: app@news.example\r\nTo: " + rcpt + "\r\nSubject: x\r\n\r\n--BB--\r\n";
    }
    static std::string arf(const std::string& mail_from, const std::string& rcpt,
                           const std::string& dkim_d = "", const std::string& dkim_s = "",
                           const std::string& from = "app@news.example", const std::string& type = "abuse") {
        return "From: fbl@isp.test\r\nSubject: complaint\r\nMIME-Version: 1.0\r\nContent-Type: "
               "multipart/report; "
               "report-type=feedback-report; boundary=\"FF\"\r\n\r\n--FF\r\nContent-Type: text/plain\r\n\r\n"
               "complaint\r\n--FF\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: " +
               type + "\r\nVersion: 1\r\n" +
               (mail_from.empty() ? "" : "Original-Mail-From: <" + mail_from + ">\r\n") +
               (rcpt.empty() ? "" : "Original-Rcpt-To: <" + rcpt + ">\r\n") +
               "\r\n--FF\r\nContent-Type: text/rfc822-headers\r\n\r\n" +
               (dkim_d.empty()
                    ? ""
                    : "DKIM-Signature: v=1; a=rsa-sha256; d=" + dkim_d + "; s=" + dkim_s + "; b=x\r\n") +
               "From: " + from + "\r\nTo: " + (rcpt.empty() ? "someone@example.org" : rcpt) +
               "\r\n\r\n--FF--\r\n";
    }
    bool suppressed(const std::string& a, const std::string& domain = "news.example") {
        auto t = admin->store().read();
        return admin->store().suppressed(t, domain, a).has_value();
    }
    int64_t stat(const char* m) {
        auto t = admin->store().read_counters();
        return admin->store().stat(t, "news.example", utc_day(now), m);
    }
    void sent(int64_t n) {
        auto w = admin->store().write_counters();
        admin->store().add_stat(w, "news.example", utc_day(now), stats::kSent, n);
        w.commit();
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(no_such_mailbox_suppresses_at_once) {
    Fixture f;
    const std::string rcpt = "gone@example.org";
    ReportResult r = ingest_dsn(f.admin->store(), f.keys, f.cfg, Fixture::dsn(rcpt, "5.1.1"),
                                f.verp({"<" + rcpt + ">"}), f.now);
    BOOST_TEST_REQUIRE(r.used, r.reason);
    BOOST_TEST(r.matched_by == "verp");
    BOOST_TEST(r.hard == 1);
    BOOST_TEST(f.suppressed(rcpt));
    BOOST_TEST(f.stat(stats::kBounceHard) == 1);
    BOOST_TEST(f.stat(stats::kSuppressedBounce) == 1);
    // The token can also come from the original's Return-Path.
    const std::string other = "gone2@example.org";
    r = ingest_dsn(f.admin->store(), f.keys, f.cfg,
                   Fixture::dsn(other, "5.1.1", "failed", f.verp({"<" + other + ">"})), "", f.now);
    BOOST_TEST(r.used);
    BOOST_TEST(f.suppressed(other));
}

BOOST_AUTO_TEST_CASE(other_permanent_failures_suppress_after_three_soft_never) {
    Fixture f;
    const std::string rcpt = "full@example.org";
    const std::string v = f.verp({"<" + rcpt + ">"});
    for (int i = 0; i < 2; ++i) {
        ReportResult r = ingest_dsn(f.admin->store(), f.keys, f.cfg, Fixture::dsn(rcpt, "5.2.2"), v, f.now);
        BOOST_TEST(r.used);
        BOOST_TEST(!f.suppressed(rcpt));
    }
    ingest_dsn(f.admin->store(), f.keys, f.cfg, Fixture::dsn(rcpt, "5.2.2"), v, f.now);
    BOOST_TEST(f.suppressed(rcpt));
    BOOST_TEST(f.stat(stats::kBounceHard) == 3);

    const std::string slow = "slow@example.org";
    for (int i = 0; i < 5; ++i) {
        ReportResult r = ingest_dsn(f.admin->store(), f.keys, f.cfg, Fixture::dsn(slow, "4.4.1", "delayed"),
                                    f.verp({"<" + slow + ">"}), f.now);
        BOOST_TEST(r.soft == 1);
    }
    BOOST_TEST(!f.suppressed(slow));
    BOOST_TEST(f.stat(stats::kBounceSoft) == 5);
}

BOOST_AUTO_TEST_CASE(hostile_or_foreign_bounces_suppress_nobody) {
    Fixture f;
    f.add_verified("other.example");
    const std::string rcpt = "victim@example.org";
    std::string forged = f.verp({"<" + rcpt + ">"});
    const size_t at = forged.rfind('@');
    forged[at - 6] = forged[at - 6] == 'A' ? 'B' : 'A';
    // A genuine token of other.example presented at news.example's address.
    std::string foreign = f.verp({"<" + rcpt + ">"}, "other.example");
    foreign = foreign.substr(0, foreign.rfind('@')) + "@bounce.news.example";
    struct Case {
        const char* label;
        std::string message, envelope;
    };
    const Case cases[] = {
        {"no VERP at all", Fixture::dsn(rcpt, "5.1.1"), "postmaster@relay.test"},
        {"forged token", Fixture::dsn(rcpt, "5.1.1"), forged},
        {"token for another domain", Fixture::dsn(rcpt, "5.1.1"), foreign},
        {"recipient the token does not name", Fixture::dsn(rcpt, "5.1.1"),
         f.verp({"<someone.else@example.org>"})},
        {"not a report", "Subject: hi\r\n\r\nhello\r\n", f.verp({"<" + rcpt + ">"})},
        {"delivered, not failed", Fixture::dsn(rcpt, "2.0.0", "delivered"), f.verp({"<" + rcpt + ">"})},
        {"empty", "", f.verp({"<" + rcpt + ">"})},
    };
    for (const auto& c : cases) BOOST_TEST_CONTEXT(c.label) {
            ReportResult r = ingest_dsn(f.admin->store(), f.keys, f.cfg, c.message, c.envelope, f.now);
            BOOST_TEST(!r.used);
            BOOST_TEST(!r.reason.empty());
        }
    BOOST_TEST(!f.suppressed(rcpt));
    BOOST_TEST(f.stat(stats::kBounceHard) == 0);
    // 10,000 recipients, none named by the token: nothing happens.
    std::string many = "Reporting-MTA: dns; relay.test\r\n";
    for (int i = 0; i < 10000; ++i)
        many += "\r\nFinal-Recipient: rfc822; r" + std::to_string(i) +
                "@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n";
    std::string big = Fixture::dsn(rcpt, "5.1.1");
    const size_t s = big.find("Reporting-MTA"), e = big.find("\r\n--BB\r\nContent-Type: text/rfc822-headers");
    big.replace(s, e - s, many);
    ReportResult r = ingest_dsn(f.admin->store(), f.keys, f.cfg, big, f.verp({"<" + rcpt + ">"}), f.now);
    BOOST_TEST(!r.used);
    BOOST_TEST(!f.suppressed("r1@example.org"));
}

BOOST_AUTO_TEST_CASE(complaints_are_matched_by_verp_dkim_or_from) {
    Fixture f;
    const std::string sel = f.d.selectors.front().name;
    ReportResult r = ingest_arf(f.admin->store(), f.keys, f.cfg,
                                Fixture::arf(f.verp({"<a@example.org>"}), "a@example.org"), "", f.now);
    BOOST_TEST_REQUIRE(r.used, r.reason);
    BOOST_TEST(r.matched_by == "verp");
    BOOST_TEST(f.suppressed("a@example.org"));
    r = ingest_arf(f.admin->store(), f.keys, f.cfg, Fixture::arf("", "b@example.org", "News.Example", sel),
                   "", f.now);
    BOOST_TEST(r.matched_by == "dkim");
    BOOST_TEST(f.suppressed("b@example.org"));
    r = ingest_arf(f.admin->store(), f.keys, f.cfg, Fixture::arf("", "c@example.org"), "", f.now);
    BOOST_TEST(r.matched_by == "from");
    BOOST_TEST(f.suppressed("c@example.org"));
    BOOST_TEST(f.stat(stats::kComplaint) == 3);

    // Refused: a forged token (no fallback then), a domain outpost does not
    // have, not-spam, a DSN given as ARF.
    std::string forged = f.verp({"<d@example.org>"});
    forged[10] = forged[10] == 'A' ? 'B' : 'A';
    const std::string refused[] = {
        Fixture::arf(forged, "d@example.org", "news.example", sel),
        Fixture::arf("", "d@example.org", "stranger.example", "s1", "x@stranger.example"),
        Fixture::arf("", "d@example.org", "", "", "app@news.example", "not-spam"),
        Fixture::dsn("d@example.org", "5.1.1"),
    };
    for (const auto& m : refused) BOOST_TEST(!ingest_arf(f.admin->store(), f.keys, f.cfg, m, "", f.now).used);
    BOOST_TEST(!f.suppressed("d@example.org"));
    BOOST_TEST(f.stat(stats::kComplaint) == 3);
}

BOOST_AUTO_TEST_CASE(bounce_rate_over_the_threshold_suspends) {
    Fixture f;
    f.cfg.health.min_volume = 10;
    f.sent(20);
    for (int i = 0; i < 2; ++i) {  // 2/20 = 10 %: not above
        const std::string a = "g" + std::to_string(i) + "@example.org";
        ingest_dsn(f.admin->store(), f.keys, f.cfg, Fixture::dsn(a, "5.1.1"), f.verp({"<" + a + ">"}), f.now);
    }
    BOOST_TEST(std::string(to_string(f.admin->domain("news.example").status)) == "verified");
    const std::string a = "g9@example.org";
    ReportResult r =
        ingest_dsn(f.admin->store(), f.keys, f.cfg, Fixture::dsn(a, "5.1.1"), f.verp({"<" + a + ">"}), f.now);
    BOOST_TEST(!r.health.empty());
    const Domain d = f.admin->domain("news.example");
    BOOST_TEST(std::string(to_string(d.status)) == "suspended");
    BOOST_TEST(d.suspended_reason.find("bounce rate") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_generic_status_takes_the_smtp_replys_code) {
    // Exim's DSNs write Status: 5.0.0 over the server's 550 5.1.1.
    Fixture f;
    const std::string rcpt = "nouser@example.org";
    std::string m = Fixture::dsn(rcpt, "5.0.0");
    const std::string diag = "Diagnostic-Code: smtp; 5.0.0 refused";
    m.replace(m.find(diag), diag.size(), "Diagnostic-Code: smtp; 550 5.1.1 no such user");
    ReportResult r = ingest_dsn(f.admin->store(), f.keys, f.cfg, m, f.verp({"<" + rcpt + ">"}), f.now);
    BOOST_TEST(r.used);
    BOOST_TEST(f.suppressed(rcpt));
    // A plain 5.0.0 with nothing more precise counts, but does not suppress at once.
    const std::string other = "maybe@example.org";
    ingest_dsn(f.admin->store(), f.keys, f.cfg, Fixture::dsn(other, "5.0.0"), f.verp({"<" + other + ">"}), f.now);
    BOOST_TEST(!f.suppressed(other));
}
