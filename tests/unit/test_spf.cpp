// test_spf.cpp - libspf2 evaluation through outpost's cache-fed DNS layer,
// with every answer placed in the cache beforehand (so no query is sent),
// and the SPF record helpers.
#define BOOST_TEST_MODULE spf
#include <boost/test/unit_test.hpp>

#include "dns/spf.h"

using namespace outpost;
using namespace outpost::dns;

namespace {

Answer txt(const std::string& name, std::vector<std::string> values) {
    Answer a;
    a.query = {name, RRType::TXT};
    a.rcode = values.empty() ? Rcode::nodata : Rcode::ok;
    a.chain = {name};
    a.values = std::move(values);
    return a;
}

Answer rr(const std::string& name, RRType t, std::vector<std::string> values, Rcode rc = Rcode::ok) {
    Answer a;
    a.query = {name, t};
    a.rcode = rc;
    a.chain = {name};
    a.values = std::move(values);
    return a;
}

// A resolver that must not be used: nothing listens on port 9 of loopback,
// and the deadline is short. Complete caches never reach it.
ResolverOptions offline() {
    ResolverOptions o;
    o.upstream = "127.0.0.1@9";
    o.timeout = std::chrono::milliseconds(300);
    o.deadline = std::chrono::milliseconds(2000);
    return o;
}

struct Case {
    const char* label;
    const char* domain;
    const char* ip;
    const char* want;
};

}  // namespace

BOOST_AUTO_TEST_CASE(evaluates_through_the_cache) {
    Resolver resolver(offline());
    DnsCache cache;
    cache.put(txt("inc.test", {"v=spf1 include:relay.test ~all", "some-verification=1"}));
    cache.put(txt("relay.test", {"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"}));
    cache.put(txt("ip4.test", {"v=spf1 ip4:192.0.2.10 -all"}));
    cache.put(txt("mx.test", {"v=spf1 mx -all"}));
    cache.put(rr("mx.test", RRType::MX, {"10 mail.mx.test"}));
    cache.put(rr("mail.mx.test", RRType::A, {"192.0.2.10"}));
    cache.put(txt("a.test", {"v=spf1 a:host.a.test ?all"}));
    cache.put(rr("host.a.test", RRType::A, {"198.51.100.1"}));
    cache.put(txt("soft.test", {"v=spf1 ~all"}));
    cache.put(txt("two.test", {"v=spf1 -all", "v=spf1 +all"}));
    cache.put(txt("none.test", {"hello"}));
    cache.put(rr("nx.test", RRType::TXT, {}, Rcode::nxdomain));
    cache.put(rr("down.test", RRType::TXT, {}, Rcode::timeout));
    cache.put(txt("incdown.test", {"v=spf1 include:down.test -all"}));
    cache.put(txt("syntax.test", {"v=spf1 bogus:x -all"}));
    std::string many = "v=spf1";
    for (int i = 0; i < 11; ++i) {
        const std::string host = "l" + std::to_string(i) + ".many.test";
        cache.put(txt(host, {"v=spf1 ?all"}));
        many += " include:" + host;
    }
    cache.put(txt("many.test", {many + " -all"}));

    const Case cases[] = {
        {"include", "inc.test", "192.0.2.10", "pass"},
        {"include v6", "inc.test", "2001:db8::10", "pass"},
        {"include, other address", "inc.test", "203.0.113.5", "softfail"},
        {"ip4 only", "ip4.test", "192.0.2.10", "pass"},
        {"ip4 only, other", "ip4.test", "192.0.2.11", "fail"},
        {"mx then A", "mx.test", "192.0.2.10", "pass"},
        {"a: no match", "a.test", "192.0.2.10", "neutral"},
        {"softfail", "soft.test", "192.0.2.10", "softfail"},
        {"two records", "two.test", "192.0.2.10", "permerror"},
        {"no spf among txt", "none.test", "192.0.2.10", "none"},
        {"nxdomain", "nx.test", "192.0.2.10", "none"},
        {"timeout", "down.test", "192.0.2.10", "temperror"},
        {"include timeout", "incdown.test", "192.0.2.10", "temperror"},
        {"syntax", "syntax.test", "192.0.2.10", "permerror"},
        {"11 includes", "many.test", "192.0.2.10", "permerror"},
    };
    std::vector<SpfQuestion> qs;
    for (const auto& c : cases) qs.push_back({c.domain, c.ip});
    SpfEvaluator ev(resolver, cache, "relay.test");
    const auto out = ev.evaluate(qs);
    BOOST_REQUIRE(out.size() == qs.size());
    for (size_t i = 0; i < qs.size(); ++i)
        BOOST_TEST(out[i].result == cases[i].want, cases[i].label << ": " << out[i].explanation);
    BOOST_TEST(resolver.queries_sent() == 0u);
    BOOST_TEST(ev.rounds() == 0);
    // libspf2's reason reaches the explanation.
    BOOST_TEST(out[14].explanation.find("too many DNS lookups") != std::string::npos, out[14].explanation);
}

BOOST_AUTO_TEST_CASE(a_missing_answer_is_asked_for_not_guessed) {
    // The include's record is not in the cache: the evaluator must ask the
    // resolver (here: offline, so the answer is a timeout -> temperror),
    // never evaluate as if the record did not exist.
    Resolver resolver(offline());
    DnsCache cache;
    cache.put(txt("inc.test", {"v=spf1 include:relay.test -all"}));
    SpfEvaluator ev(resolver, cache, "relay.test");
    const auto out = ev.evaluate({{"inc.test", "192.0.2.10"}});
    BOOST_TEST(out[0].result == "temperror");
    BOOST_TEST(resolver.queries_sent() >= 1u);
    BOOST_TEST(ev.rounds() >= 1);
    BOOST_REQUIRE(cache.find({"relay.test", RRType::TXT}));
}

BOOST_AUTO_TEST_CASE(record_helpers) {
    BOOST_TEST(spf_records({"v=spf1 -all", "v=spf10 -all", "V=SPF1 mx", "x v=spf1", "v=spf1"}).size() == 3u);
    BOOST_TEST(spf_has_include("v=spf1 include:_spf.relay.test ~all", "_spf.relay.test"));
    BOOST_TEST(spf_has_include("v=spf1 +INCLUDE:_spf.relay.test. ~all", "_spf.relay.test"));
    BOOST_TEST(!spf_has_include("v=spf1 -include:_spf.relay.test ~all", "_spf.relay.test"));
    BOOST_TEST(!spf_has_include("v=spf1 include:_spf.relay.test.evil ~all", "_spf.relay.test"));

    BOOST_TEST(merge_spf_records({"v=spf1 include:a.test ~all", "v=spf1 ip4:198.51.100.7 -all"}, "r.test") ==
               "v=spf1 include:a.test ip4:198.51.100.7 include:r.test ~all");
    BOOST_TEST(merge_spf_records({"v=spf1 mx include:r.test -all", "v=spf1 mx a ~all"}, "r.test") ==
               "v=spf1 mx include:r.test a -all");
    BOOST_TEST(
        merge_spf_records({"v=spf1 redirect=_spf.a.test", "v=spf1 exp=why.test ip4:1.2.3.4"}, "r.test") ==
        "v=spf1 ip4:1.2.3.4 include:r.test exp=why.test redirect=_spf.a.test");

    BOOST_TEST(is_loopback_ip("127.0.0.1"));
    BOOST_TEST(is_loopback_ip("127.1.2.3"));
    BOOST_TEST(is_loopback_ip("::1"));
    BOOST_TEST(!is_loopback_ip("192.0.2.10"));
    BOOST_TEST(!is_loopback_ip("2001:db8::10"));
}
