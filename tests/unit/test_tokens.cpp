// test_tokens.cpp - private AEAD tokens (version 2) and the tracking secret file.
#define BOOST_TEST_MODULE tokens
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>

#include "base/error.h"
#include "store/secrets.h"
#include "store/tokens.h"
#include "testutil.h"

using namespace outpost;

namespace {

constexpr int64_t kNow = 1795000000;
constexpr int64_t kYear = 365 * 86400;

TokenPayload sample(TokenKind kind = TokenKind::unsubscribe) {
    TokenPayload p;
    p.kind = kind;
    p.domain = "example.com";
    p.recipient = "someone@example.net";
    p.message = "4XyZ1";
    p.issued_at = kNow;
    return p;
}

TokenPayload click(const std::string& url) {
    TokenPayload p;
    p.kind = TokenKind::click;
    p.domain = "example.com";
    p.message = "4F2A21C0A45";  // Postfix's short (hex) queue id
    p.recipients = {recipient_digest("someone@example.net")};
    p.url = url;
    p.issued_at = kNow;
    return p;
}

std::string flip_bit(std::string s, size_t i) {
    // Flip one bit of the base64url character's value, staying in the alphabet.
    static const std::string a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    s[i] = a[a.find(s[i]) ^ 1];
    return s;
}

struct Keys {
    test::TempDir dir;
    std::string path = dir.path + "/tracking.key";
    Keys() { tracking_secret_init(path); }
    TokenKeys load() const { return TokenKeys::load(path); }
};

}  // namespace

BOOST_AUTO_TEST_CASE(round_trip_of_every_field) {
    Keys k;
    TokenKeys keys = k.load();
    TokenPayload in = sample(TokenKind::mailto);
    in.recipients = {recipient_digest("a@example.net"), recipient_digest("b@example.net")};
    in.url = "https://example.com/x?a=1&b=2";
    in.sender = "App+Bounce@example.com";
    for (const std::string url : {"http://example.com/", "ftp://example.com/f", "https://"}) {
        TokenPayload c = click(url);
        BOOST_TEST(keys.verify(keys.issue(c), TokenKind::click, kNow, kYear)->url == url);
    }
    // Queue ids: hex ones are packed, long (Postfix enable_long_queue_ids) ones kept.
    for (const std::string qid : {"4F2A21C0A45", "4F2A21C0A456", "A", "4QTESTxyz", "4dKq1n2RrBz5w3"}) {
        TokenPayload c = click("https://example.com/");
        c.message = qid;
        BOOST_TEST(keys.verify(keys.issue(c), TokenKind::click, kNow, kYear)->message == qid);
    }
    const std::string t = keys.issue(in);
    BOOST_TEST(t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") ==
               std::string::npos);
    BOOST_TEST(t.rfind("2" + keys.current_kid() + ".", 0) == 0u);
    auto p = keys.verify(t, TokenKind::mailto, kNow + 60, kYear);
    BOOST_REQUIRE(p.has_value());
    BOOST_TEST(p->domain == "example.com");
    BOOST_TEST(p->recipient == "someone@example.net");
    BOOST_TEST(p->message == "4XyZ1");
    BOOST_TEST(p->url == in.url);
    BOOST_TEST(p->sender == in.sender);
    BOOST_TEST(p->issued_at == kNow);
    BOOST_TEST(p->recipients.size() == 2u);
    BOOST_TEST(p->names("A@Example.NET"));
    BOOST_TEST(p->names("SOMEONE@example.net"));
    BOOST_TEST(!p->names("c@example.net"));
    // Two tokens for the same payload differ (random nonce).
    BOOST_TEST(keys.issue(in) != t);
}

BOOST_AUTO_TEST_CASE(nothing_is_readable_and_links_stay_short) {
    Keys k;
    TokenKeys keys = k.load();
    const std::string url = "https://shop.example.com/spring-sale?utm_source=news";
    const std::string c = keys.issue(click(url));
    const std::string long_c = keys.issue(
        click("http://www.example.com/products/2026/spring-collection/index.html?utm_source=newsletter&utm_medium=email"));
    const std::string u = keys.issue(sample());
    const std::string host = "https://t.relay.example.net";
    BOOST_TEST_MESSAGE("click link " << (host + "/c/" + c).size() << " chars, unsubscribe link "
                                     << (host + "/u/" + u).size() << " chars");
    BOOST_TEST((host + "/c/" + c).size() < 185u);
    BOOST_TEST_MESSAGE("a 104-character URL gives a " << (host + "/c/" + long_c).size() << "-character link");
    BOOST_TEST(keys.verify(long_c, TokenKind::click, kNow, kYear)->url.size() == 104u);
    BOOST_TEST((host + "/u/" + u).size() < 150u);
    for (const std::string& t : {c, u}) {
        const auto raw = base64url_decode(t.substr(t.find('.') + 1)).value();
        for (const char* secret : {"someone", "example", "shop", "utm_source", "4XyZ1"}) {
            BOOST_TEST(t.find(secret) == std::string::npos);
            BOOST_TEST(raw.find(secret) == std::string::npos);
        }
    }
}

BOOST_AUTO_TEST_CASE(tampered_tokens_are_refused) {
    Keys k;
    TokenKeys keys = k.load();
    const std::string t = keys.issue(sample());
    const size_t dot = t.find('.');
    struct Case {
        const char* label;
        std::string token;
    };
    const Case cases[] = {
        {"nonce bit", flip_bit(t, dot + 3)},
        {"ciphertext bit", flip_bit(t, dot + 20)},
        {"tag bit", flip_bit(t, t.size() - 3)},
        {"version", "3" + t.substr(1)},
        {"no dot", t.substr(0, dot) + t.substr(dot + 1)},
        {"nothing sealed", t.substr(0, dot + 1)},
        {"truncated", t.substr(0, t.size() - 4)},
        {"extended", t + "AAAA"},
        {"two dots", t + ".x"},
        {"bad base64", t.substr(0, dot + 1) + "!!!" + t.substr(dot + 4)},
        {"empty", ""},
        {"huge", t.substr(0, dot + 1) + std::string(5000, 'A')},
    };
    for (const auto& c : cases) BOOST_TEST_CONTEXT(c.label) {
            BOOST_TEST(!keys.verify(c.token, TokenKind::unsubscribe, kNow, kYear).has_value());
        }
    BOOST_TEST(keys.verify(t, TokenKind::unsubscribe, kNow, kYear).has_value());
}

BOOST_AUTO_TEST_CASE(kind_and_lifetime_are_enforced) {
    Keys k;
    TokenKeys keys = k.load();
    const std::string c = keys.issue(click("https://example.com/"));
    // A click token is never an unsubscribe (or open) token.
    BOOST_TEST(keys.verify(c, TokenKind::click, kNow, kYear).has_value());
    BOOST_TEST(!keys.verify(c, TokenKind::unsubscribe, kNow, kYear).has_value());
    BOOST_TEST(!keys.verify(c, TokenKind::open, kNow, kYear).has_value());
    // Expired, and issued in the future beyond the clock skew.
    BOOST_TEST(keys.verify(c, TokenKind::click, kNow + kYear, kYear).has_value());
    BOOST_TEST(!keys.verify(c, TokenKind::click, kNow + kYear + 1, kYear).has_value());
    BOOST_TEST(keys.verify(c, TokenKind::click, kNow - TokenKeys::kClockSkew, kYear).has_value());
    BOOST_TEST(!keys.verify(c, TokenKind::click, kNow - TokenKeys::kClockSkew - 1, kYear).has_value());
}

BOOST_AUTO_TEST_CASE(another_installation_or_unknown_key_id) {
    Keys a, b;
    TokenKeys ka = a.load(), kb = b.load();
    const std::string t = ka.issue(sample());
    BOOST_TEST(!kb.verify(t, TokenKind::unsubscribe, kNow, kYear).has_value());
    // Same key id, another secret.
    TokenKeys same_kid({{ka.current_kid(), std::string(32, 'x')}});
    BOOST_TEST(!same_kid.verify(t, TokenKind::unsubscribe, kNow, kYear).has_value());
    // The key id is authenticated: moving the sealed part under another id fails.
    TokenKeys two({{"A", std::string(32, 'x')}, {ka.current_kid(), std::string(32, 'y')}});
    const std::string sealed = t.substr(t.find('.'));
    BOOST_TEST(!two.verify("2A" + sealed, TokenKind::unsubscribe, kNow, kYear).has_value());
}

BOOST_AUTO_TEST_CASE(rotation_keeps_old_tokens_and_retire_ends_them) {
    Keys k;
    const std::string k1 = k.load().current_kid();
    const std::string old_token = k.load().issue(sample());
    const std::string k2 = tracking_secret_rotate(k.path);
    BOOST_TEST(k1 != k2);
    TokenKeys keys = k.load();
    BOOST_TEST(keys.size() == 2u);
    BOOST_TEST(keys.current_kid() == k2);
    BOOST_TEST(keys.verify(old_token, TokenKind::unsubscribe, kNow, kYear).has_value());
    const std::string new_token = keys.issue(sample());
    BOOST_TEST(new_token.rfind("2" + k2 + ".", 0) == 0u);

    // The newest key cannot be retired; an unknown one is not found.
    try {
        tracking_secret_retire(k.path, k2);
        BOOST_FAIL("retiring the current key must be refused");
    } catch (const Error& e) {
        BOOST_TEST(e.token() == "TRACKING_KEY_CURRENT");
    }
    BOOST_CHECK_THROW(tracking_secret_retire(k.path, "nope"), Error);
    struct stat before {};
    ::stat(k.path.c_str(), &before);
    tracking_secret_retire(k.path, k1);
    struct stat after {};
    ::stat(k.path.c_str(), &after);
    BOOST_TEST((after.st_mode & 07777) == (before.st_mode & 07777));
    TokenKeys retired = k.load();
    BOOST_TEST(retired.size() == 1u);
    BOOST_TEST(!retired.verify(old_token, TokenKind::unsubscribe, kNow, kYear).has_value());
    BOOST_TEST(retired.verify(new_token, TokenKind::unsubscribe, kNow, kYear).has_value());
}

BOOST_AUTO_TEST_CASE(oversized_fields_are_refused_when_issuing) {
    Keys k;
    TokenKeys keys = k.load();
    TokenPayload p = click("https://example.com/" + std::string(3000, 'a'));
    BOOST_CHECK_THROW(keys.issue(p), Error);
    p = sample(TokenKind::mailto);
    p.recipients.assign(TokenKeys::kMaxRecipients + 1, recipient_digest("x@example.net"));
    BOOST_CHECK_THROW(keys.issue(p), Error);
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
    test::write_file(path, "k1 " + base64url(std::string(16, 'a')) + "\n");
    BOOST_CHECK_THROW(TokenKeys::load(path), Error);  // not an AES-256 key
    test::write_file(path, "k-1 " + base64url(std::string(32, 'a')) + "\n");
    BOOST_CHECK_THROW(TokenKeys::load(path), Error);  // bad key id
    test::write_file(path, "# only a comment\n");
    BOOST_CHECK_THROW(TokenKeys::load(path), Error);  // no secret
    test::write_file(path, "k1 " + base64url(std::string(32, 'a')) + " extra\n");
    BOOST_CHECK_THROW(TokenKeys::load(path), Error);  // a third field

    // Comments, blank lines, CRLF and tab separators, no final newline: read
    // as before the reader kept no stream buffer.
    test::write_file(path, "# keys\r\n\r\n  k1\t" + base64url(std::string(32, 'a')) + "  # old\r\nk2 " +
                               base64url(std::string(32, 'b')));
    const TokenKeys keys = TokenKeys::load(path);
    BOOST_TEST(keys.kids() == (std::vector<std::string>{"k1", "k2"}));
    BOOST_TEST(keys.current_kid() == "k2");
    // Retiring one keeps the other lines as they were.
    tracking_secret_retire(path, "k1");
    const std::string left = test::read_file(path);
    BOOST_TEST(left.find("# keys") == 0u, left);
    BOOST_TEST(left.find(base64url(std::string(32, 'a'))) == std::string::npos);
    BOOST_TEST(TokenKeys::load(path).kids() == std::vector<std::string>{"k2"});
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

BOOST_AUTO_TEST_CASE(wipe_overwrites_then_empties) {
    std::string secret = outpost::new_api_secret();
    BOOST_REQUIRE(secret.size() > 32);  // on the heap, not in the string object
    const size_t n = secret.size();
    const char* bytes = secret.data();
    outpost::wipe(secret);
    BOOST_TEST(secret.empty());
    BOOST_TEST(secret.data() == bytes);  // same buffer: clear() keeps it
    size_t nonzero = 0;
    for (size_t i = 0; i < n; ++i) nonzero += bytes[i] != 0;
    BOOST_TEST(nonzero == 0u);
}
