// test_cidr.cpp - client networks: IPv4, IPv6, and IPv4-mapped IPv6 in every
// spelling (found by tests/fuzz/fuzz_listen_cidr: a hex-spelled mapped
// network never matched its own address and printed as an unreadable /128).
#define BOOST_TEST_MODULE cidr
#include <boost/test/unit_test.hpp>

#include "store/cidr.h"

using outpost::Cidr;

BOOST_AUTO_TEST_CASE(networks_contain_their_addresses) {
    struct Case {
        const char* label;
        const char* network;
        const char* inside;
        const char* outside;
        const char* printed;
    };
    const Case cases[] = {
        {"ipv4", "192.0.2.0/24", "192.0.2.77", "192.0.3.1", "192.0.2.0/24"},
        {"ipv4 host", "192.0.2.7", "192.0.2.7", "192.0.2.8", "192.0.2.7/32"},
        {"ipv6", "2001:db8::/32", "2001:db8:1::5", "2001:db9::1", "2001:db8::/32"},
        {"mapped client", "192.0.2.0/24", "::ffff:192.0.2.9", "::ffff:192.0.3.9", "192.0.2.0/24"},
        {"mapped dotted", "::ffff:192.0.2.0/120", "192.0.2.200", "192.0.3.1", "192.0.2.0/24"},
        {"mapped hex", "::ffff:102:304", "1.2.3.4", "1.2.3.5", "1.2.3.4/32"},
        {"mapped hex network", "::ffff:c000:200/120", "::ffff:192.0.2.1", "10.0.0.1", "192.0.2.0/24"},
    };
    for (const auto& c : cases) {
        auto n = Cidr::parse(c.network);
        BOOST_TEST_REQUIRE(n.has_value(), c.label);
        BOOST_TEST(n->contains(c.inside), c.label);
        BOOST_TEST(!n->contains(c.outside), c.label);
        BOOST_TEST(n->str() == c.printed, c.label);
        auto again = Cidr::parse(n->str());  // what is stored reads back the same
        BOOST_TEST_REQUIRE(again.has_value(), c.label);
        BOOST_TEST(again->str() == n->str(), c.label);
    }
}

BOOST_AUTO_TEST_CASE(bad_networks_are_refused) {
    for (const char* bad : {"192.0.2.0/33", "2001:db8::/129", "::ffff:0:0/95", "192.0.2.0/", "192.0.2.0/-1",
                            "192.0.2.0/1000", "example.com", "", "::ffff:192.0.2.0/24"})
        BOOST_TEST(!Cidr::parse(bad).has_value(), bad);
}
