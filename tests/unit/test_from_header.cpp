// test_from_header.cpp - the From policy over GMime: a table of friendly and
// hostile headers, each with a label and the domain wanted ("" = refused).
#define BOOST_TEST_MODULE from_header
#include <boost/test/unit_test.hpp>

#include "milter/from_header.h"

using outpost::milter::parse_from;

namespace {

struct Case {
    const char* label;
    std::vector<std::string> values;
    const char* want_domain;  // "" = refused
    const char* why = "";     // a word the refusal must contain
};

}  // namespace

BOOST_AUTO_TEST_CASE(from_table) {
    const std::string long_name(1200, 'a');
    const Case cases[] = {
        {"bare address", {" user@example.com"}, "example.com"},
        {"display name", {" \"Joe Q.\" <joe@Example.COM>"}, "example.com"},
        {"angle only", {" <user@example.com>"}, "example.com"},
        {"comment after", {" joe@example.com (Joe)"}, "example.com"},
        {"comment in name", {" Joe (the boss) <joe@example.com>"}, "example.com"},
        {"folded", {" Joe\r\n <joe@example.com>"}, "example.com"},
        {"folded LF", {" Joe\n\t<joe@example.com>"}, "example.com"},
        {"trailing dot", {" x@example.com."}, "example.com"},
        {"IDN U-label", {" user@bücher.example"}, "xn--bcher-kva.example"},
        {"encoded-word name", {" =?utf-8?q?J=C3=B6rg?= <j@example.com>"}, "example.com"},
        {"quoted local part with @", {" \"a@b\"@evil.example"}, "evil.example"},
        // Hostile.
        {"address in display name", {" \"ceo@bank.example\" <x@evil.example>"}, "evil.example"},
        {"encoded address in display name",
         {" =?utf-8?b?Y2VvQGJhbmsuZXhhbXBsZQ==?= <x@evil.example>"},
         "evil.example"},
        {"two From headers", {" a@example.com", " b@example.com"}, "", "2 From"},
        // Angle brackets that do not pair (a stray '>' made GMime leak).
        {"stray >", {" a@exCOM>e.com, b@example.com"}, "", "'>' without its '<'"},
        {"nested <", {" <<a@example.com>>"}, "", "'<' inside an angle address"},
        {"unclosed <", {" Bob <a@example.com"}, "", "'<' without its '>'"},
        {"> in quoted name", {" \"a > b\" <a@example.com>"}, "example.com"},
        {"> in comment", {" a@example.com (x > y)"}, "example.com"},
        {"escaped > in quoted name", {" \"a \\> b\" <a@example.com>"}, "example.com"},
        {"no From header", {}, "", "no From"},
        {"two addresses", {" a@example.com, b@example.com"}, "", "more than one address"},
        {"trailing comma", {" a@example.com,"}, "", "more than one address"},
        {"comma inside the angle address", {" Alice <alice@,xample.com>"}, "", "more than one address"},
        {"unquoted @ in the name", {" ceo@bank.example <x@evil.example>"}, "", "'@' before its '<'"},
        {"unterminated comment", {" Ali(e <alice@example.com>"}, "", "without its closing ')'"},
        {"unterminated quote", {" \"Alice <alice@example.com>"}, "", "without its closing '\"'"},
        {"stray )", {" a) <alice@example.com>"}, "", "')' without its '('"},
        {"route in angle address", {" <@relay.example:a@example.com>"}, "example.com"},
        {"address then junk", {" Joe <joe@example.com> junk"}, ""},
        {"group", {" friends: a@example.com;"}, "", "group"},
        {"empty group", {" undisclosed-recipients:;"}, "", "group"},
        {"no domain", {" user"}, "", "no domain"},
        {"empty domain", {" user@"}, ""},
        {"empty", {""}, ""},
        {"encoded-word domain", {" x@=?utf-8?q?evil?=.example"}, "", "encoded"},
        {"encoded-word whole address", {" =?utf-8?q?x=40evil.example?="}, ""},
        {"encoded-word in angle domain", {" a <x@=?utf-8?q?bank?=.example>"}, ""},
        {"address literal", {" user@[192.0.2.1]"}, "", "literal"},
        {"space in domain", {" joe@exa mple.com"}, ""},
        {"comment in domain", {" joe@ex(c)ample.com"}, ""},
        {"public suffix", {" a@com"}, ""},
        {"bad label", {" a@-bad-.example"}, ""},
        {"NUL", {std::string(" a@example.com\0b@evil.example", 29)}, "", "NUL"},
        {"bare CR", {" a@evil.example\rb@example.com"}, "", "bare CR"},
        {"bare LF", {" a@evil.example\nb@example.com"}, "", "bare LF"},
        {"control char", {" a@exa\x01mple.com"}, "", "control"},
        {"invalid UTF-8", {" \xff\xfe <a@example.com>"}, "", "UTF-8"},
        {"very long", {" \"" + long_name + "\" <a@example.com>"}, "", "longer"},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.label) {
            auto r = parse_from(c.values);
            const std::string want = c.want_domain;
            BOOST_TEST(r.ok == !want.empty());
            if (r.ok) {
                BOOST_TEST(r.domain == want);
            } else {
                BOOST_TEST(!r.error.empty());
                BOOST_TEST(r.error.find(c.why) != std::string::npos, "error: " << r.error);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(address_is_kept_as_written) {
    auto r = parse_from({" \"ceo@bank.example\" <X@Evil.Example>"});
    BOOST_REQUIRE(r.ok);
    BOOST_TEST(r.address == "X@Evil.Example");
    BOOST_TEST(r.domain == "evil.example");
}
