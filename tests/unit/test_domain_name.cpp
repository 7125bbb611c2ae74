// test_domain_name.cpp - normalizing domain names: IDNA, case, public suffixes.
#define BOOST_TEST_MODULE domain_name
#include <boost/test/unit_test.hpp>

#include "dns/domain_name.h"
#include "base/error.h"

using namespace outpost;

BOOST_AUTO_TEST_CASE(valid_names_are_normalized) {
    struct {
        const char* in;
        const char* ascii;
        const char* unicode;
    } cases[] = {
        {"example.com", "example.com", "example.com"},
        {"Example.COM.", "example.com", "example.com"},
        {"mail.example.co.uk", "mail.example.co.uk", "mail.example.co.uk"},
        {"bücher.example", "xn--bcher-kva.example", "bücher.example"},
        {"BÜCHER.example", "xn--bcher-kva.example", "bücher.example"},
        {"xn--bcher-kva.example", "xn--bcher-kva.example", "bücher.example"},
        {"faß.de", "xn--fa-hia.de", "faß.de"},  // IDNA2008: ß is kept, not mapped to ss
        {"a-b.example.org", "a-b.example.org", "a-b.example.org"},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.in) {
            DomainName n = normalize_domain(c.in);
            BOOST_TEST(n.ascii == c.ascii);
            BOOST_TEST(n.unicode == c.unicode);
        }
    }
}

BOOST_AUTO_TEST_CASE(invalid_names_are_refused_with_a_reason) {
    struct {
        const char* in;
        const char* token;
        const char* why;
    } cases[] = {
        {"", "DOMAIN_INVALID", "empty"},
        {"com", "DOMAIN_IS_PUBLIC_SUFFIX", "public suffix"},
        {"co.uk", "DOMAIN_IS_PUBLIC_SUFFIX", "public suffix"},
        {"github.io", "DOMAIN_IS_PUBLIC_SUFFIX", "public suffix"},
        {"localhost", "DOMAIN_INVALID", "two labels"},
        {"exa mple.com", "DOMAIN_INVALID", "space"},
        {"user@example.com", "DOMAIN_INVALID", "'@'"},
        {"example..com", "DOMAIN_INVALID", "empty label"},
        {".example.com", "DOMAIN_INVALID", "empty label"},
        {"-bad.example.com", "DOMAIN_INVALID", "IDNA"},
        {"exa$mple.com", "DOMAIN_INVALID", "character other than"},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", "DOMAIN_INVALID", ""},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.in) {
            try {
                normalize_domain(c.in);
                BOOST_ERROR("accepted an invalid name");
            } catch (const Error& e) {
                BOOST_TEST(e.token() == c.token);
                BOOST_TEST(std::string(e.what()).find(c.why) != std::string::npos, e.what());
                BOOST_TEST(e.status() == Exit::invalid);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(organizational_domain_uses_the_public_suffix_list) {
    BOOST_TEST(organizational_domain("mail.example.co.uk") == "example.co.uk");
    BOOST_TEST(organizational_domain("a.b.example.com") == "example.com");
    BOOST_TEST(organizational_domain("example.com") == "example.com");
    BOOST_TEST(organizational_domain("co.uk") == "");
}
