// test_dkim_signer.cpp - outpost's DKIM signer: rsa-sha256 and
// ed25519-sha256 signatures from our PKCS#8 keys verify with libopendkim's
// verifier; the policy (relaxed/relaxed, over-signed From, no l=) is in the
// header; relaxed canonicalization by RFC 6376's rules; bad keys are
// refused. (The byte-for-byte comparison with libopendkim's signatures is
// tests/integration/test_dkim_differential.py.)
#define BOOST_TEST_MODULE dkim_signer
#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <ctime>

#include "dns/dkim_keys.h"
#include "milter/dkim_signer.h"
#include "milter_fixture.h"
#include "base/error.h"

using namespace outpost;
using namespace outpost::milter;

namespace {

struct Signed {
    std::string message;
    std::string sig;
};

Signed sign(const KeyPair& kp, KeyAlgorithm alg) {
    const std::vector<std::pair<std::string, std::string>> headers = {
        {"From", " Joe <joe@example.com>"}, {"To", " you@example.net"},
        {"Subject", " folded\n\tsubject"},  {"List-Unsubscribe", " <https://t.example/u/x>"},
        {"X-Not-Signed", " anything"},
    };
    const std::string body = "Hello,  world \r\n\r\nbye\r\n\r\n";
    DkimSigner s(std::make_shared<const SigningKey>(kp.private_pem, alg, "sel"), "example.com", "sel",
                 std::time(nullptr));
    for (const auto& [n, v] : headers) s.header(n, v);
    s.end_of_headers();
    s.body(reinterpret_cast<const unsigned char*>(body.data()), 5);
    s.body(reinterpret_cast<const unsigned char*>(body.data()) + 5, body.size() - 5);
    Signed out;
    out.sig = s.finish();
    std::string sig_crlf;
    for (char c : out.sig) {
        if (c == '\n') sig_crlf += '\r';
        sig_crlf += c;
    }
    out.message = "DKIM-Signature: " + sig_crlf + "\r\n";
    for (const auto& [n, v] : headers) {
        std::string vv;
        for (char c : v) {
            if (c == '\n') vv += '\r';
            vv += c;
        }
        out.message += n + ":" + vv + "\r\n";
    }
    out.message += "\r\n" + body;
    return out;
}

Domain domain_with(const KeyPair& kp, KeyAlgorithm alg) {
    Domain d;
    d.name = "example.com";
    d.selectors.push_back(Selector{"sel", alg, 1024, SelectorState::active, kp.public_b64, 0, 0, 0});
    return d;
}

}  // namespace

BOOST_AUTO_TEST_CASE(rsa_and_ed25519_verify) {
    test::TempDir dir;
    for (KeyAlgorithm alg : {KeyAlgorithm::rsa, KeyAlgorithm::ed25519}) {
        BOOST_TEST_CONTEXT(to_string(alg)) {
            KeyPair kp = generate_key(alg, 1024);
            Signed s = sign(kp, alg);
            BOOST_TEST(s.sig.find(alg == KeyAlgorithm::rsa ? "a=rsa-sha256" : "a=ed25519-sha256") !=
                       std::string::npos);
            BOOST_TEST(s.sig.find("c=relaxed/relaxed") != std::string::npos);
            BOOST_TEST(s.sig.find("l=") == std::string::npos);
            BOOST_TEST(s.sig.find('\r') == std::string::npos);
            BOOST_TEST(s.sig.rfind("v=1;", 0) == 0);  // the value only, no header name
            // From over-signed, List-Unsubscribe signed, X-Not-Signed not.
            std::string flat;
            for (char c : s.sig)
                if (c != '\n' && c != '\t' && c != ' ') flat += static_cast<char>(std::tolower(c));
            const size_t hpos = flat.find(";h=") + 3;
            const std::string hl = flat.substr(hpos, flat.find(';', hpos) - hpos) + ":";
            BOOST_TEST(hl.find("from:") != std::string::npos);
            BOOST_TEST(hl.find("from", hl.find("from") + 1) != std::string::npos);
            BOOST_TEST(hl.find("list-unsubscribe") != std::string::npos);
            BOOST_TEST(hl.find("x-not-signed") == std::string::npos);
            auto r = test::verify_dkim(s.message, {domain_with(kp, alg)}, dir.path + "/keys.txt");
            BOOST_TEST(r == std::vector<std::string>{"sel:ok"});
            // Adding a second From, Subject, To, ... after signing breaks the
            // signature (over-signing), present in the message or not.
            for (const char* added : {"From: ceo@bank.example", "Subject: urgent", "To: victim@example.org",
                                      "Cc: more@example.org", "Reply-To: thief@example.net", "Date: Mon, 1 Jan 2024",
                                      "Message-ID: <replay@example.com>", "Content-Type: text/html",
                                      "Sender: boss@example.com", "References: <x@y>"}) {
                BOOST_TEST_CONTEXT(added) {
                    std::string evil = s.message;
                    evil.insert(evil.find("\r\n\r\n") + 2, std::string(added) + "\r\n");
                    r = test::verify_dkim(evil, {domain_with(kp, alg)}, dir.path + "/keys.txt");
                    BOOST_TEST(r == std::vector<std::string>{"sel:fail"});
                }
            }
            // An unsigned header (X-Mailer) added later leaves it valid.
            std::string benign = s.message;
            benign.insert(benign.find("\r\n\r\n") + 2, "X-Mailer: later\r\n");
            r = test::verify_dkim(benign, {domain_with(kp, alg)}, dir.path + "/keys.txt");
            BOOST_TEST(r == std::vector<std::string>{"sel:ok"});
        }
    }
}

BOOST_AUTO_TEST_CASE(bad_keys_are_refused) {
    BOOST_CHECK_THROW(SigningKey("not a key", KeyAlgorithm::rsa, "sel"), Error);
    BOOST_CHECK_THROW(SigningKey(std::string("-----BEGIN\0", 11), KeyAlgorithm::rsa, "sel"), Error);
    BOOST_CHECK_THROW(
        SigningKey("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", KeyAlgorithm::rsa, "sel"),
        Error);
    // A key of the other algorithm than the selector says.
    const KeyPair ed = generate_key(KeyAlgorithm::ed25519, 0);
    try {
        SigningKey k(ed.private_pem, KeyAlgorithm::rsa, "sel._domainkey.example.com");
        BOOST_FAIL("an ed25519 key was accepted as rsa");
    } catch (const Error& e) {
        BOOST_TEST(std::string(e.what()).find("sel._domainkey.example.com is not an rsa key") != std::string::npos);
    }
    BOOST_CHECK_THROW(DkimSigner(nullptr, "example.com", "sel", 0), Error);
}

BOOST_AUTO_TEST_CASE(relaxed_header_rules) {
    // RFC 6376 3.4.2: name lower case, unfolded, WSP runs one SP, none at the ends.
    BOOST_TEST(relaxed_header("SUBJECT", " \t a  b\r\n\t c \t") == "subject:a b c\r\n");
    BOOST_TEST(relaxed_header("Subject", " a\n b") == "subject:a b\r\n");  // the milter's LF folds
    BOOST_TEST(relaxed_header("Cc", "") == "cc:\r\n");
    BOOST_TEST(relaxed_header("X", "  ", false) == "x:");
    BOOST_TEST(relaxed_header("X", " a\rb") == "x:a\rb\r\n");  // a bare CR is not WSP
    BOOST_TEST(relaxed_header("X", " a\vb") == "x:a\vb\r\n");
}

namespace {
std::string hex(const unsigned char* d, size_t n) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < n; ++i) {
        out += digits[d[i] >> 4];
        out += digits[d[i] & 15];
    }
    return out;
}
std::string body_hash(const std::string& body, size_t chunk = 0) {
    RelaxedBodyHash h;
    const auto* p = reinterpret_cast<const unsigned char*>(body.data());
    const size_t step = chunk ? chunk : std::max<size_t>(body.size(), 1);
    for (size_t at = 0; at < body.size(); at += step) h.update(p + at, std::min(step, body.size() - at));
    auto d = h.finish();
    return hex(d.data(), d.size());
}
// SHA-256 of the canonical body, computed here from what RFC 6376 3.4.4 says it is.
std::string sha256_hex(const std::string& s) {
    unsigned char d[32];
    unsigned int n = 0;
    EVP_Digest(s.data(), s.size(), d, &n, EVP_sha256(), nullptr);
    return hex(d, n);
}
}  // namespace

BOOST_AUTO_TEST_CASE(relaxed_body_rules) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"", ""},                                          // empty body: empty
        {"\r\n\r\n", ""},                                  // only empty lines: empty
        {"a  \r\n", "a\r\n"},                              // trailing WSP goes
        {"a \t b\r\n", "a b\r\n"},                          // WSP runs become one SP
        {" \tlead\r\n", " lead\r\n"},                       // leading WSP is a run too
        {"a\r\n\r\n\r\n", "a\r\n"},                          // empty lines at the end go
        {"\r\n  \r\na\r\n", "\r\n\r\na\r\n"},                // empty lines before content stay
        {"no crlf", "no crlf\r\n"},                        // a last line gets its CRLF
        {"x  ", "x\r\n"},
        {"a\rb\r\n", "a\rb\r\n"},                          // a bare CR is content
        {"a\r b\r\n", "a\r b\r\n"},
        {"a\nb\r\n", "a\nb\r\n"},                          // so is a bare LF
        {"ends in CR\r", "ends in CR\r\r\n"},
    };
    for (const auto& [in, canon] : cases) {
        BOOST_TEST_CONTEXT("body " << in) {
            const std::string want = sha256_hex(canon);
            BOOST_TEST(body_hash(in) == want);
            for (size_t chunk : {1, 2, 3}) BOOST_TEST(body_hash(in, chunk) == want);
        }
    }
    // The well-known empty-body hash (RFC 6376 3.4.4 errata: relaxed, empty body).
    BOOST_TEST(body_hash("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

BOOST_AUTO_TEST_CASE(signature_folds_like_libopendkim) {
    // b= of an RSA-2048 signature starts its own line; h= breaks after a colon.
    std::vector<std::string> tags = {"v=1;", "a=rsa-sha256;", "c=relaxed/relaxed;", "d=example.com;", "s=s1;",
                                     "t=1764000000;", "bh=" + std::string(44, 'B') + ";",
                                     "h=From:To:Subject:Date:Message-ID:MIME-Version:Content-Type:from:list-unsubscribe:list-unsubscribe-post;",
                                     "b=" + std::string(344, 'S')};
    const std::string f = fold_signature(tags, 16, 256);
    BOOST_TEST(f.find("\r\n\tb=") != std::string::npos);
    BOOST_TEST(f.find(":\r\n\t ") != std::string::npos);
    BOOST_TEST(f.rfind("v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=s1;", 0) == 0);
}
