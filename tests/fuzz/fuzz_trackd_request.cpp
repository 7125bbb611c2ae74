// fuzz_trackd_request.cpp - outpost-trackd's request handling
// (control/lib/trackd_handler.h Handler::handle, and the classification of
// control/lib/trackd_classify.h), over a real store made once per process
// in a mkdtemp directory under /tmp (domains example.com and other.org).
// Input: "\n"-separated fields: method, request-target, User-Agent,
// X-Forwarded-For, Content-Type, peer address, Host; the rest is the body
// (at most 16 KB in all). In the target, "@O", "@C" and "@U" stand for a
// genuine open, click and unsubscribe token of example.com and "@X" for an
// open token of a domain the store does not hold, so the fuzzer reaches
// past token verification.
// Invariants: never crashes or throws; the status is 200, 302, 400, 404 or
// 405 (never 503: the store is healthy, so hostile input must not look
// like a store fault); a 404 says "not found", a 405 has Allow, a 302 has a
// Location starting http:// or https:// with no control octet or space;
// no header name or value holds CR, LF or NUL; the route kind and class
// are known words; the log line is one line. classify() says why exactly
// when it says machine, and a HEAD is always a machine; client_address()
// gives the peer itself unless the peer is loopback.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "control/lib/admin.h"
#include "control/lib/trackd_classify.h"
#include "control/lib/trackd_handler.h"
#include "store/tokens.h"

using namespace outpost;

namespace {

struct World {
    std::string dir;
    Config cfg;
    std::unique_ptr<Admin> admin;
    std::unique_ptr<trackd::Handler> handler;
    int64_t now = 0;
    std::string open, click, unsub, foreign;
};
World* g = nullptr;

std::string key_bytes(unsigned mul, unsigned add) {
    std::string k(32, '\0');
    for (unsigned i = 0; i < 32; ++i) k[i] = static_cast<char>((i * mul + add) & 0xff);
    return k;
}

std::string replace_all(std::string s, std::string_view from, const std::string& to) {
    for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size())
        s.replace(at, from.size(), to);
    return s;
}

bool clean_header(const std::string& s) {
    return s.find_first_of(std::string("\r\n\0", 3)) == std::string::npos;
}

void cleanup() {
    if (!g) return;
    g->handler.reset();
    g->admin.reset();
    std::error_code ec;
    std::filesystem::remove_all(g->dir, ec);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    g = new World;
    char tmpl[] = "/tmp/outpost-fuzz-trackd-XXXXXX";
    if (!::mkdtemp(tmpl)) std::abort();
    g->dir = tmpl;
    std::atexit(cleanup);
    g->cfg = parse_config("store:\n  path: " + g->dir + "/store\n  keys: " + g->dir +
                              "/keys\ndkim:\n  rsa_bits: 1024\ntracking:\n  host: t.relay.test\n"
                              "relay:\n  hostname: relay.test\n",
                          "fuzz-trackd.yaml");
    g->admin = std::make_unique<Admin>(g->cfg);
    AddDomainOptions o;
    o.algorithm = "ed25519";
    g->admin->add_domain("example.com", o);
    g->admin->add_domain("other.org", o);
    TokenKeys keys({{"fz1", key_bytes(7, 1)}});
    g->now = 1795000000;
    auto issue = [&](TokenKind kind, const std::string& domain) {
        TokenPayload p;
        p.kind = kind;
        p.domain = domain;
        p.message = "4QTEST1";
        p.issued_at = g->now - 3600;
        if (kind == TokenKind::unsubscribe)
            p.recipient = "jane.doe@example.net";
        else
            p.recipients = {recipient_digest("jane.doe@example.net")};
        if (kind == TokenKind::click) p.url = "https://shop.example.com/item?a=1&b=2";
        return keys.issue(p);
    };
    g->open = issue(TokenKind::open, "example.com");
    g->click = issue(TokenKind::click, "example.com");
    g->unsub = issue(TokenKind::unsubscribe, "example.com");
    g->foreign = issue(TokenKind::open, "gone.example");
    g->handler = std::make_unique<trackd::Handler>(
        g->admin->store(), std::make_shared<const trackd::Settings>(trackd::Settings{g->cfg, std::move(keys)}));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 16384) return 0;
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> f;
    while (f.size() < 7) {
        const size_t nl = in.find('\n');
        f.emplace_back(in.substr(0, nl));
        in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    }
    trackd::Request req;
    req.method = f[0];
    req.target = replace_all(replace_all(replace_all(replace_all(f[1], "@O", g->open), "@C", g->click), "@U",
                                         g->unsub),
                             "@X", g->foreign);
    req.user_agent = f[2];
    req.forwarded_for = f[3];
    req.content_type = f[4];
    req.peer = f[5];
    req.host = f[6];
    req.body = std::string(in);

    const trackd::Response res = g->handler->handle(req, g->now);
    switch (res.status) {
        case 200:
        case 302:
        case 400:
            break;
        case 404:
            if (res.body != "not found\n") std::abort();
            break;
        case 405:
            if (res.header("Allow").empty()) std::abort();
            break;
        default:
            std::abort();
    }
    if (res.status == 302) {
        const std::string loc = res.header("Location");
        if (loc.rfind("http://", 0) != 0 && loc.rfind("https://", 0) != 0) std::abort();
        for (unsigned char c : loc)
            if (c <= 0x20 || c == 0x7f) std::abort();
    }
    if (!clean_header(res.content_type)) std::abort();
    for (const auto& [name, value] : res.headers)
        if (!clean_header(name) || !clean_header(value)) std::abort();
    static const char* const kinds[] = {"open", "click", "unsubscribe", "healthz", "tls-ask", "-"};
    bool known = false;
    for (const char* k : kinds) known = known || res.kind == k;
    if (!known) std::abort();
    if (!res.cls.empty() && res.cls != "human" && res.cls != "machine") std::abort();
    const std::string line = trackd::log_line(req, res);
    if (line.find_first_of(std::string("\r\n\0", 3)) != std::string::npos) std::abort();

    const std::string client = trackd::client_address(req.peer, req.forwarded_for);
    const trackd::Classification c =
        trackd::classify({req.method == "HEAD", req.user_agent, client, static_cast<int64_t>(size) - 20});
    if (c.machine == (c.why[0] == '\0')) std::abort();
    if (req.method == "HEAD" && !c.machine) std::abort();
    if (req.forwarded_for.empty() && client.empty() != req.peer.empty()) std::abort();
    return 0;
}
