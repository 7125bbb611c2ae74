// test_dkim_signer.cpp - the libopendkim wrapper: rsa-sha256 and
// ed25519-sha256 signatures from our PKCS#8 keys verify with libopendkim's
// verifier; the policy (relaxed/relaxed, over-signed From, no l=) is in the
// header; bad keys are refused.
#define BOOST_TEST_MODULE dkim_signer
#include <boost/test/unit_test.hpp>

#include "dns/dkim_keys.h"
#include "milter/dkim_signer.h"
#include "milter_fixture.h"
#include "store/error.h"

using namespace outpost;
using namespace outpost::milter;

namespace {

struct Signed {
    std::string message;
    std::string sig;
};

Signed sign(const DkimLibrary& lib, const KeyPair& kp, KeyAlgorithm alg) {
    const std::vector<std::pair<std::string, std::string>> headers = {
        {"From", " Joe <joe@example.com>"}, {"To", " you@example.net"},
        {"Subject", " folded\n\tsubject"},  {"List-Unsubscribe", " <https://t.example/u/x>"},
        {"X-Not-Signed", " anything"},
    };
    const std::string body = "Hello,  world \r\n\r\nbye\r\n\r\n";
    DkimSigner s(lib, "TEST1", kp.private_pem, "example.com", "sel", alg);
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
    DkimLibrary lib;
    BOOST_TEST(lib.has_ed25519());
    for (KeyAlgorithm alg : {KeyAlgorithm::rsa, KeyAlgorithm::ed25519}) {
        BOOST_TEST_CONTEXT(to_string(alg)) {
            KeyPair kp = generate_key(alg, 1024);
            Signed s = sign(lib, kp, alg);
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
            // Adding a second From after signing breaks the signature (over-signing).
            std::string evil = s.message;
            evil.insert(evil.find("\r\n\r\n") + 2, "From: ceo@bank.example\r\n");
            r = test::verify_dkim(evil, {domain_with(kp, alg)}, dir.path + "/keys.txt");
            BOOST_TEST(r == std::vector<std::string>{"sel:fail"});
        }
    }
}

BOOST_AUTO_TEST_CASE(bad_keys_are_refused) {
    DkimLibrary lib;
    BOOST_CHECK_THROW(DkimSigner(lib, "x", "not a key", "example.com", "sel", KeyAlgorithm::rsa), Error);
    BOOST_CHECK_THROW(
        DkimSigner(lib, "x", std::string("-----BEGIN\0", 11), "example.com", "sel", KeyAlgorithm::rsa),
        Error);
    // A syntactically PEM but broken key fails when the signature is made.
    bool threw = false;
    try {
        DkimSigner s(lib, "x", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                     "example.com", "sel", KeyAlgorithm::rsa);
        s.header("From", " a@example.com");
        s.end_of_headers();
        s.finish();
    } catch (const Error& e) {
        threw = true;
    }
    BOOST_TEST(threw);
}
