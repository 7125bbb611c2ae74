// test_stage_unmanaged.cpp - milter.unmanaged: mail outpost does not manage
// passes untouched, or is refused; a key or a managed domain is always
// enforced.
#define BOOST_TEST_MODULE stage_unmanaged
#include <libmilter/mfapi.h>

#include <boost/test/unit_test.hpp>

#include "milter_fixture.h"

using namespace outpost;
using namespace outpost::test;

namespace {

Send from(const std::string& address, const std::string& sasl = "") {
    Send s;
    s.sasl = sasl;
    s.headers = {{"From", " " + address}, {"To", " x@example.net"}, {"Subject", " cron"}};
    return s;
}

struct Fixture : MilterFixture {
    explicit Fixture(const std::string& yaml) : MilterFixture(yaml) {
        add_verified("example.com");
        add_key("app", sasl_key("app"));
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(pass_lets_unmanaged_mail_through_untouched) {
    Fixture f("milter:\n  unmanaged: pass\n");
    Delivery r = send_message(f.runtime(), from("root@relay.example.net"));
    BOOST_TEST((r.eoh.verdict == milter::StageResult::Verdict::accept));
    BOOST_TEST(r.eoh.token == "unmanaged");
    BOOST_TEST(map_result(r.eoh).status == SMFIS_ACCEPT);
    BOOST_TEST(r.mta.log.empty());  // nothing added, removed or signed
    BOOST_TEST(!r.txn.domain.has_value());

    // A managed domain from an unidentified sender is still refused...
    r = send_message(f.runtime(), from("a@example.com"));
    BOOST_TEST(r.eoh.token == "AUTH_REQUIRED");
    BOOST_TEST(r.eoh.code == "550");
    // ...and a key-identified sender is enforced whatever the domain.
    r = send_message(f.runtime(), from("a@unmanaged.example", "app"));
    BOOST_TEST(r.eoh.token == "DOMAIN_NOT_FOUND");
    r = send_message(f.runtime(), from("a@example.com", "app"));
    BOOST_TEST(r.eom.is_next());
    BOOST_TEST(r.mta.log.size() >= 2u);  // List-Unsubscribe, DKIM-Signature
    // Several From headers are never passed (one could be a managed domain).
    Send two = from("root@relay.example.net");
    two.headers.push_back({"From", " a@example.com"});
    r = send_message(f.runtime(), two);
    BOOST_TEST(r.eoh.token == "FROM_INVALID");
}

BOOST_AUTO_TEST_CASE(reject_is_the_default) {
    Fixture f("");
    BOOST_TEST(f.runtime().config->milter.unmanaged == "reject");
    Delivery r = send_message(f.runtime(), from("root@relay.example.net"));
    BOOST_TEST(r.eoh.token == "AUTH_REQUIRED");
    r = send_message(f.runtime(), from("a@unmanaged.example", "app"));
    BOOST_TEST(r.eoh.token == "DOMAIN_NOT_FOUND");
}
