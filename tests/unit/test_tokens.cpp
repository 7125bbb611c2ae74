// test_tokens.cpp - HMAC tokens and the tracking secret file.
#define BOOST_TEST_MODULE tokens
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>

#include "store/error.h"
#include "store/secrets.h"
#include "store/tokens.h"
#include "testutil.h"

using namespace outpost;

namespace {

TokenPayload sample() {
    TokenPayload p;
    p.kind = "u";
    p.domain = "example.com";
    p.recipient = "someone@example.net";
    p.message = "4XyZ1";
    p.issued_at = 1795000000;
    return p;
}

std::string flip(std::string s, size_t i) {
    s[i] = s[i] == 'A' ? 'B' : 'A';
    return s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(round_trip) {
    test::TempDir dir;
    const std::string path = dir.path + "/tracking.key";
    const std::string kid = tracking_secret_init(path);
    TokenKeys keys = TokenKeys::load(path);
    BOOST_TEST(keys.current_kid() == kid);
    const std::string t = keys.issue(sample());
    BOOST_TEST(t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") ==
               std::string::npos);
    auto p = keys.verify(t);
    BOOST_REQUIRE(p.has_value());
    BOOST_TEST(p->kind == "u");
    BOOST_TEST(p->domain == "example.com");
    BOOST_TEST(p->recipient == "someone@example.net");
    BOOST_TEST(p->message == "4XyZ1");
    BOOST_TEST(p->issued_at == 1795000000);
}

BOOST_AUTO_TEST_CASE(tampered_tokens_are_refused) {
    test::TempDir dir;
    const std::string path = dir.path + "/tracking.key";
    tracking_secret_init(path);
    TokenKeys keys = TokenKeys::load(path);
    const std::string t = keys.issue(sample());
    const size_t dot = t.find('.');
    struct Case {
        const char* label;
        std::string token;
    };
    // A payload for another recipient, signed with no key at all.
    TokenPayload other = sample();
    other.recipient = "victim@example.net";
    const std::string forged_body = keys.issue(other).substr(0, keys.issue(other).find('.'));
    const Case cases[] = {
        {"payload byte", flip(t, 5)},
        {"mac byte", flip(t, dot + 5)},
        {"payload swapped", forged_body + t.substr(dot)},
        {"no mac", t.substr(0, dot)},
        {"empty mac", t.substr(0, dot + 1)},
        {"two dots", t + ".x"},
        {"bad base64", "!!!." + t.substr(dot + 1)},
        {"empty", ""},
        {"huge", std::string(5000, 'A') + "." + t.substr(dot + 1)},
        {"truncated mac", t.substr(0, t.size() - 2)},
    };
    for (const auto& c : cases) BOOST_TEST_CONTEXT(c.label) {
            BOOST_TEST(!keys.verify(c.token).has_value());
        }
}

BOOST_AUTO_TEST_CASE(wrong_or_unknown_key_id) {
    test::TempDir dir;
    const std::string a = dir.path + "/a.key", b = dir.path + "/b.key";
    tracking_secret_init(a);
    tracking_secret_init(b);
    TokenKeys ka = TokenKeys::load(a), kb = TokenKeys::load(b);
    // Another installation's token (unknown kid, or same kid with another secret).
    BOOST_TEST(!kb.verify(ka.issue(sample())).has_value());
    TokenKeys same_kid({{ka.current_kid(), std::string(32, 'x')}});
    BOOST_TEST(!same_kid.verify(ka.issue(sample())).has_value());
}

BOOST_AUTO_TEST_CASE(rotation_keeps_old_tokens_valid) {
    test::TempDir dir;
    const std::string path = dir.path + "/tracking.key";
    const std::string k1 = tracking_secret_init(path);
    const std::string old_token = TokenKeys::load(path).issue(sample());
    const std::string k2 = tracking_secret_rotate(path);
    BOOST_TEST(k1 != k2);
    TokenKeys keys = TokenKeys::load(path);
    BOOST_TEST(keys.size() == 2u);
    BOOST_TEST(keys.current_kid() == k2);
    BOOST_TEST(keys.verify(old_token).has_value());
    BOOST_TEST(keys.verify(keys.issue(sample())).has_value());
}

BOOST_AUTO_TEST_CASE(secret_file_rules) {
    test::TempDir dir;
    const std::string path = dir.path + "/tracking.key";
    try {
        TokenKeys::load(path);
        BOOST_FAIL("a missing file must be refused");
    } catch (const Error& e) {
        BOOST_TEST(e.token() == "TRACKING_SECRET_MISSING");
        BOOST_TEST(std::string(e.what()).find("outpostctl tracking init") != std::string::npos);
    }
    tracking_secret_init(path);
    struct stat st {};
    ::stat(path.c_str(), &st);
    BOOST_TEST((st.st_mode & 0777) == 0640u);
    BOOST_CHECK_THROW(tracking_secret_init(path), Error);  // never overwritten
    ::chmod(path.c_str(), 0644);
    BOOST_CHECK_THROW(TokenKeys::load(path), Error);  // world-readable refused
    ::chmod(path.c_str(), 0640);
    test::write_file(
        path, "k1 " + base64url(std::string(32, 'a')) + "\nk1 " + base64url(std::string(32, 'b')) + "\n");
    ::chmod(path.c_str(), 0600);
    BOOST_CHECK_THROW(TokenKeys::load(path), Error);  // repeated kid
    test::write_file(path, "k1 short\n");
    BOOST_CHECK_THROW(TokenKeys::load(path), Error);  // too short
    test::write_file(path, "# only a comment\n");
    BOOST_CHECK_THROW(TokenKeys::load(path), Error);  // no secret
}

BOOST_AUTO_TEST_CASE(base64url_decoding) {
    for (const std::string& s :
         std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)})
        BOOST_TEST(base64url_decode(base64url(s)).value() == s);
    BOOST_TEST(!base64url_decode("a").has_value());     // impossible length
    BOOST_TEST(!base64url_decode("ab+c").has_value());  // not the URL alphabet
    BOOST_TEST(!base64url_decode("ab=").has_value());   // no padding
    BOOST_TEST(!base64url_decode("YR").has_value());    // non-canonical trailing bits
    BOOST_TEST(base64url_decode("YQ").value() == "a");
}
