// test_reply.cpp - the one mapper from stage results to libmilter status and
// SMTP reply.
#define BOOST_TEST_MODULE reply
#include <libmilter/mfapi.h>

#include <boost/test/unit_test.hpp>

#include "milter/reply.h"

using namespace outpost::milter;

BOOST_AUTO_TEST_CASE(mapper_table) {
    struct Case {
        const char* label;
        StageResult in;
        int status;
        const char *code, *xcode, *message;
    };
    const Case cases[] = {
        {"next", StageResult::next(), SMFIS_CONTINUE, "", "", ""},
        {"policy", StageResult::policy("DOMAIN_NOT_FOUND", "x.example is not a sending domain"), SMFIS_REJECT,
         "550", "5.7.1", "DOMAIN_NOT_FOUND x.example is not a sending domain"},
        {"warmup", StageResult::refuse("452", "4.7.1", "WARMUP_LIMIT_EXCEEDED", "resets 00:00 UTC"),
         SMFIS_TEMPFAIL, "452", "4.7.1", "WARMUP_LIMIT_EXCEEDED resets 00:00 UTC"},
        {"pending tempfail", StageResult::refuse("451", "4.7.1", "DOMAIN_PENDING_VERIFICATION", "wait"),
         SMFIS_TEMPFAIL, "451", "4.7.1", "DOMAIN_PENDING_VERIFICATION wait"},
        {"internal", StageResult::internal("DKIM_KEY_UNAVAILABLE", "try later"), SMFIS_TEMPFAIL, "451",
         "4.3.0", "DKIM_KEY_UNAVAILABLE try later"},
        {"bad code becomes 451", StageResult::refuse("250", "2.0.0", "OOPS", "bug"), SMFIS_TEMPFAIL, "451",
         "4.3.0", "OOPS bug"},
        {"mismatched class", StageResult::refuse("550", "4.7.1", "OOPS", "bug"), SMFIS_TEMPFAIL, "451",
         "4.3.0", "OOPS bug"},
        {"CR LF and percent cleaned", StageResult::policy("FROM_INVALID", "a\r\nb%s\x01"), SMFIS_REJECT,
         "550", "5.7.1", "FROM_INVALID a  bs"},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.label) {
            MilterReply m = map_result(c.in);
            BOOST_TEST(m.status == c.status);
            BOOST_TEST(m.set_reply == (c.status != SMFIS_CONTINUE));
            BOOST_TEST(m.code == c.code);
            BOOST_TEST(m.xcode == c.xcode);
            BOOST_TEST(m.message == c.message);
        }
    }
}

BOOST_AUTO_TEST_CASE(reply_text_is_bounded_printable_ascii) {
    std::string s = reply_text(std::string(1000, 'a') + "\xc3\xa9");
    BOOST_TEST(s.size() == 400u);
    BOOST_TEST(reply_text("b\xc3\xa9z") == "bz");
}
