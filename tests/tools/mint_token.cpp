// mint_token.cpp - test-only: seal a tracking token with the secrets of a
// tracking.secret_file, for tests/integration/test_trackd.py. outpostctl
// has no such command on purpose (tokens come from the milter only).
//
//   outpost-test-mint-token --secret-file F --kind o|c|u --domain D
//       [--message QID] [--recipient ADDR] [--digest ADDR] [--url URL]
//       [--age SECONDS]
//
// --recipient sets the one recipient (unsubscribe); --digest adds a
// recipient digest (open, click); --age backdates the issue time.
#include <CLI/CLI.hpp>
#include <iostream>

#include "base/error.h"
#include "store/model.h"
#include "store/tokens.h"

int main(int argc, char** argv) {
    using namespace outpost;
    std::string secret_file, kind, domain, message, recipient, url;
    std::vector<std::string> digests;
    int64_t age = 3600;
    CLI::App app{"outpost-test-mint-token - seal a tracking token (tests only)"};
    app.add_option("--secret-file", secret_file)->required();
    app.add_option("--kind", kind)->required()->check(CLI::IsMember({"o", "c", "u"}));
    app.add_option("--domain", domain)->required();
    app.add_option("--message", message);
    app.add_option("--recipient", recipient);
    app.add_option("--digest", digests);
    app.add_option("--url", url);
    app.add_option("--age", age);
    CLI11_PARSE(app, argc, argv);
    try {
        TokenPayload p;
        p.kind = kind == "o" ? TokenKind::open : kind == "c" ? TokenKind::click : TokenKind::unsubscribe;
        p.domain = domain;
        p.message = message;
        p.recipient = recipient;
        for (const auto& d : digests) p.recipients.push_back(recipient_digest(d));
        p.url = url;
        p.issued_at = now_seconds() - age;
        std::cout << TokenKeys::load(secret_file).issue(p) << '\n';
        return 0;
    } catch (const Error& e) {
        std::cerr << "outpost-test-mint-token: " << e.what() << '\n';
        return static_cast<int>(e.status());
    }
}
