// test_trackd_handler.cpp - outpost-trackd's routes, without sockets: every
// route, what each does to the store, and every way a token is refused.
#define BOOST_TEST_MODULE trackd_handler
#include <boost/test/unit_test.hpp>
#include <memory>

#include "control/lib/admin.h"
#include "control/lib/trackd_handler.h"
#include "store/stats.h"
#include "store/tokens.h"
#include "testutil.h"

using namespace outpost;
using trackd::Handler;
using trackd::Request;
using trackd::Response;
using trackd::Settings;

namespace {

constexpr const char* kBrowser =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
constexpr const char* kRecipient = "jane.doe@example.net";
constexpr const char* kQueueId = "4QTEST1";

struct Fixture {
    test::TempDir dir;
    Config cfg;
    std::unique_ptr<Admin> admin;
    std::unique_ptr<Handler> handler;
    const int64_t now = now_seconds();

    Fixture() {
        cfg = test::test_config(dir.path, "tracking:\n  host: t.relay.test\n  secret_file: " + dir.path +
                                              "/tracking.key\nrelay:\n  hostname: relay.test\n");
        tracking_secret_init(cfg.tracking.secret_file);
        admin = std::make_unique<Admin>(cfg);
        AddDomainOptions o;
        o.algorithm = "ed25519";
        admin->add_domain("example.com", o);
        admin->add_domain("other.org", o);
        reload();
    }

    // Settings from the files, as SIGHUP makes them.
    void reload() {
        auto s = std::make_shared<const Settings>(Settings{cfg, TokenKeys::load(cfg.tracking.secret_file)});
        if (handler)
            handler->replace(std::move(s));
        else
            handler = std::make_unique<Handler>(admin->store(), std::move(s));
    }

    const TokenKeys& keys() const { return handler->settings()->keys; }

    TokenPayload payload(TokenKind kind, const std::string& domain = "example.com") const {
        TokenPayload p;
        p.kind = kind;
        p.domain = domain;
        p.message = kQueueId;
        p.issued_at = now - 3600;
        if (kind == TokenKind::unsubscribe)
            p.recipient = kRecipient;
        else
            p.recipients = {recipient_digest(kRecipient)};
        if (kind == TokenKind::click) p.url = "https://shop.example.com/item?a=1&b=2";
        return p;
    }
    std::string token(TokenKind kind, const std::string& domain = "example.com") const {
        return keys().issue(payload(kind, domain));
    }

    Response call(const std::string& method, const std::string& target, const std::string& body = "",
                  const std::string& ua = kBrowser, const std::string& peer = "192.0.2.7") const {
        Request r;
        r.method = method;
        r.target = target;
        r.user_agent = ua;
        r.body = body;
        r.content_type = body.empty() ? "" : "application/x-www-form-urlencoded";
        r.peer = peer;
        return handler->handle(r, now);
    }

    int64_t stat(const char* metric, const std::string& domain = "example.com") {
        auto t = admin->store().read_counters();
        return admin->store().stat(t, domain, utc_day(now), metric);
    }
    std::optional<nlohmann::json> suppressed(const std::string& domain = "example.com") {
        auto t = admin->store().read();
        return admin->store().suppressed(t, domain, kRecipient);
    }
};

void require_not_found(const Response& r) {
    BOOST_TEST(r.status == 404);
    BOOST_TEST(r.body == "not found\n");
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(routes, Fixture)

BOOST_AUTO_TEST_CASE(open_serves_the_43_byte_gif_and_counts) {
    const Response r = call("GET", "/o/" + token(TokenKind::open));
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.body.size() == 43u);
    BOOST_TEST(r.body == std::string(trackd::pixel_gif()));
    BOOST_TEST(r.body.substr(0, 6) == "GIF89a");
    BOOST_TEST(r.body.back() == ';');
    BOOST_TEST(r.content_type == "image/gif");
    BOOST_TEST(r.header("Cache-Control") == "no-store, no-cache, must-revalidate, private");
    BOOST_TEST(r.header("Pragma") == "no-cache");
    BOOST_TEST(r.kind == "open");
    BOOST_TEST(r.cls == "human");
    BOOST_TEST(stat(stats::kOpenHuman) == 1);
    BOOST_TEST(stat(stats::kOpenUnique) == 1);

    // A second open of the same message by the same recipient is not unique.
    BOOST_TEST(call("GET", "/o/" + token(TokenKind::open)).status == 200);
    BOOST_TEST(stat(stats::kOpenHuman) == 2);
    BOOST_TEST(stat(stats::kOpenUnique) == 1);
    BOOST_TEST(stat(stats::kOpenMachine) == 0);
}

BOOST_AUTO_TEST_CASE(open_head_is_a_machine_and_not_unique) {
    const Response r = call("HEAD", "/o/" + token(TokenKind::open));
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.body.size() == 43u);  // the server sends only the length
    BOOST_TEST(r.cls == "machine");
    BOOST_TEST(r.why == "head");
    BOOST_TEST(stat(stats::kOpenMachine) == 1);
    BOOST_TEST(stat(stats::kOpenUnique) == 0);
}

BOOST_AUTO_TEST_CASE(open_without_one_recipient_is_never_unique) {
    TokenPayload p = payload(TokenKind::open);
    p.recipients.clear();  // a message to several recipients
    BOOST_TEST(call("GET", "/o/" + keys().issue(p)).status == 200);
    BOOST_TEST(stat(stats::kOpenHuman) == 1);
    BOOST_TEST(stat(stats::kOpenUnique) == 0);
}

BOOST_AUTO_TEST_CASE(click_redirects_to_the_sealed_url_exactly) {
    const Response r = call("GET", "/c/" + token(TokenKind::click));
    BOOST_TEST(r.status == 302);
    BOOST_TEST(r.header("Location") == "https://shop.example.com/item?a=1&b=2");
    BOOST_TEST(r.header("Cache-Control") == "no-store");
    BOOST_TEST(r.header("Referrer-Policy") == "no-referrer");
    BOOST_TEST(r.cls == "human");
    BOOST_TEST(stat(stats::kClickHuman) == 1);
    BOOST_TEST(stat(stats::kClickUnique) == 1);
    // A query string on our own link is ignored, not passed on.
    BOOST_TEST(call("GET", "/c/" + token(TokenKind::click) + "?utm=x").header("Location") ==
               "https://shop.example.com/item?a=1&b=2");
}

BOOST_AUTO_TEST_CASE(machines_are_redirected_too) {
    TokenPayload fast = payload(TokenKind::click);
    fast.issued_at = now - 2;  // a scanner at the receiving side
    const struct {
        const char* label;
        std::string method, token, ua, why;
    } cases[] = {
        {"fast", "GET", keys().issue(fast), kBrowser, "fast"},
        {"scanner ua", "GET", token(TokenKind::click), "python-requests/2.31", "ua"},
        {"head", "HEAD", token(TokenKind::click), kBrowser, "head"},
    };
    for (const auto& c : cases) BOOST_TEST_CONTEXT(c.label) {
            const Response r = call(c.method, "/c/" + c.token, "", c.ua);
            BOOST_TEST(r.status == 302);
            BOOST_TEST(r.header("Location") == "https://shop.example.com/item?a=1&b=2");
            BOOST_TEST(r.cls == "machine");
            BOOST_TEST(r.why == c.why);
        }
    BOOST_TEST(stat(stats::kClickMachine) == 3);
    BOOST_TEST(stat(stats::kClickHuman) == 0);
    BOOST_TEST(stat(stats::kClickUnique) == 0);
}

BOOST_AUTO_TEST_CASE(click_to_a_non_http_url_is_refused) {
    TokenPayload p = payload(TokenKind::click);
    for (const char* url :
         {"javascript:alert(1)", "https://a.example/\r\nSet-Cookie: x=1", "//evil.example/"}) {
        p.url = url;
        BOOST_TEST_CONTEXT(url) {
            require_not_found(call("GET", "/c/" + keys().issue(p)));
        }
    }
}

BOOST_AUTO_TEST_CASE(unsubscribe_get_shows_the_page_and_changes_nothing) {
    const std::string t = token(TokenKind::unsubscribe);
    const Response r = call("GET", "/u/" + t);
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.content_type == "text/html; charset=utf-8");
    BOOST_TEST(r.body.rfind("<!DOCTYPE html>", 0) == 0);
    BOOST_TEST(r.body.find("<meta charset=\"utf-8\">") != std::string::npos);
    BOOST_TEST(r.body.find("<form method=\"post\" action=\"/u/" + t + "\">") != std::string::npos);
    BOOST_TEST(r.body.find(">Unsubscribe</button>") != std::string::npos);
    BOOST_TEST(r.body.find("mail from <strong>example.com</strong>") != std::string::npos);
    BOOST_TEST(r.body.find("j\u2022\u2022\u2022@example.net") != std::string::npos);
    BOOST_TEST(r.body.find(kRecipient) == std::string::npos);
    BOOST_TEST(r.body.find("jane") == std::string::npos);
    BOOST_TEST(r.body.find("<script") == std::string::npos);
    BOOST_TEST(r.body.find("http") == std::string::npos);  // no external resource
    BOOST_TEST(r.header("Content-Security-Policy") ==
               "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'");
    BOOST_TEST(r.header("X-Frame-Options") == "DENY");
    BOOST_TEST(r.header("Cache-Control") == "no-store");

    BOOST_TEST(call("HEAD", "/u/" + t).status == 200);
    BOOST_TEST(!suppressed().has_value());
    BOOST_TEST(stat(stats::kUnsubscribeOneClick) == 0);
    BOOST_TEST(stat(stats::kUnsubscribePage) == 0);
}

BOOST_AUTO_TEST_CASE(one_click_post_suppresses_once_and_counts_once) {
    const std::string t = token(TokenKind::unsubscribe);
    const Response r = call("POST", "/u/" + t, "List-Unsubscribe=One-Click");
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.content_type == "text/plain; charset=utf-8");
    auto e = suppressed();
    BOOST_REQUIRE(e.has_value());
    BOOST_TEST((*e)["reason"] == "unsubscribe");
    BOOST_TEST((*e)["source"] == "one-click");
    BOOST_TEST((*e)["message"] == kQueueId);
    BOOST_TEST((*e)["at"].get<int64_t>() == now);
    BOOST_TEST(!suppressed("other.org").has_value());  // only the token's domain
    BOOST_TEST(stat(stats::kUnsubscribeOneClick) == 1);

    // Again: the same answer, the entry kept, nothing counted.
    BOOST_TEST(call("POST", "/u/" + t, "List-Unsubscribe=One-Click").status == 200);
    BOOST_TEST(call("POST", "/u/" + t, "confirm=1").status == 200);
    BOOST_TEST(stat(stats::kUnsubscribeOneClick) == 1);
    BOOST_TEST(stat(stats::kUnsubscribePage) == 0);
    BOOST_TEST((*suppressed())["source"] == "one-click");
}

BOOST_AUTO_TEST_CASE(page_post_counts_as_page) {
    const Response r = call("POST", "/u/" + token(TokenKind::unsubscribe), "confirm=1");
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.content_type == "text/html; charset=utf-8");
    BOOST_TEST(r.body.find("You are unsubscribed") != std::string::npos);
    BOOST_TEST(r.body.find(kRecipient) == std::string::npos);
    BOOST_TEST((*suppressed())["source"] == "page");
    BOOST_TEST(stat(stats::kUnsubscribePage) == 1);
    BOOST_TEST(stat(stats::kUnsubscribeOneClick) == 0);
}

BOOST_AUTO_TEST_CASE(one_click_body_forms) {
    const struct {
        const char* label;
        std::string content_type, body;
        int status;
    } cases[] = {
        {"urlencoded, newline", "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click\r\n", 200},
        {"no content type", "", "List-Unsubscribe=One-Click", 200},
        {"percent-encoded", "application/x-www-form-urlencoded", "List%2DUnsubscribe=One%2DClick", 200},
        {"multipart", "multipart/form-data; boundary=XyZ",
         "--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--XyZ--\r\n",
         200},
        {"empty", "application/x-www-form-urlencoded", "", 400},
        {"other field", "application/x-www-form-urlencoded", "List-Unsubscribe=Maybe", 400},
        {"multipart without the field", "multipart/form-data; boundary=XyZ", "--XyZ--\r\n", 400},
    };
    for (const auto& c : cases) BOOST_TEST_CONTEXT(c.label) {
            Fixture f;
            Request r;
            r.method = "POST";
            r.target = "/u/" + f.token(TokenKind::unsubscribe);
            r.content_type = c.content_type;
            r.body = c.body;
            r.user_agent = kBrowser;
            r.peer = "192.0.2.7";
            BOOST_TEST(f.handler->handle(r, f.now).status == c.status);
            BOOST_TEST(f.suppressed().has_value() == (c.status == 200));
        }
}

BOOST_AUTO_TEST_CASE(bad_tokens_are_plain_404s) {
    const std::string open = token(TokenKind::open);
    const std::string click = token(TokenKind::click);
    const std::string unsub = token(TokenKind::unsubscribe);
    std::string flipped = unsub;
    char& c = flipped[flipped.size() / 2 + 3];
    c = c == 'A' ? 'B' : 'A';  // still base64url, a few bits off

    // A token from another installation (another secret file).
    test::TempDir other;
    tracking_secret_init(other.path + "/tracking.key");
    const std::string foreign =
        TokenKeys::load(other.path + "/tracking.key").issue(payload(TokenKind::unsubscribe));

    TokenPayload old = payload(TokenKind::unsubscribe);
    old.issued_at = now - cfg.tracking.unsubscribe_lifetime.count() - 60;
    TokenPayload old_open = payload(TokenKind::open);
    old_open.issued_at = now - cfg.tracking.open_lifetime.count() - 60;

    const struct {
        const char* label;
        std::string method, target;
    } cases[] = {
        {"flipped bit", "GET", "/u/" + flipped},
        {"flipped bit, post", "POST", "/u/" + flipped},
        {"foreign secret", "GET", "/u/" + foreign},
        {"foreign secret, post", "POST", "/u/" + foreign},
        {"expired unsubscribe", "POST", "/u/" + keys().issue(old)},
        {"expired open", "GET", "/o/" + keys().issue(old_open)},
        {"click token at /u/", "GET", "/u/" + click},
        {"click token at /u/, post", "POST", "/u/" + click},
        {"click token at /o/", "GET", "/o/" + click},
        {"open token at /c/", "GET", "/c/" + open},
        {"unsubscribe token at /c/", "GET", "/c/" + unsub},
        {"empty", "GET", "/o/"},
        {"garbage", "GET", "/o/hello"},
        {"bad characters", "GET", "/o/" + open + "%00"},
        {"extra path", "GET", "/c/" + click + "/x"},
        {"huge", "GET", "/o/" + std::string(5000, 'A')},
        {"unknown path", "GET", "/x/" + open},
        {"root", "GET", "/"},
        {"absolute form", "GET", "http://t.relay.test/o/" + open},
    };
    for (const auto& c : cases) BOOST_TEST_CONTEXT(c.label) {
            const Response r =
                call(c.method, c.target, c.method == "POST" ? "List-Unsubscribe=One-Click" : "");
            require_not_found(r);
            BOOST_TEST(r.header("Location").empty());
        }
    BOOST_TEST(!suppressed().has_value());
    BOOST_TEST(stat(stats::kOpenHuman) + stat(stats::kOpenMachine) == 0);
    BOOST_TEST(stat(stats::kClickHuman) + stat(stats::kClickMachine) == 0);
}

BOOST_AUTO_TEST_CASE(retired_key_ids_are_refused_and_rotated_ones_kept) {
    const std::string before = token(TokenKind::unsubscribe);
    const std::string old_kid = keys().current_kid();
    tracking_secret_rotate(cfg.tracking.secret_file);
    reload();
    BOOST_TEST(keys().current_kid() != old_kid);
    BOOST_TEST(call("GET", "/u/" + before).status == 200);  // rotated: still accepted
    tracking_secret_retire(cfg.tracking.secret_file, old_kid);
    reload();
    require_not_found(call("GET", "/u/" + before));
    require_not_found(call("POST", "/u/" + before, "List-Unsubscribe=One-Click"));
    BOOST_TEST(!suppressed().has_value());
    BOOST_TEST(call("GET", "/u/" + token(TokenKind::unsubscribe)).status == 200);
}

BOOST_AUTO_TEST_CASE(another_domains_token_on_a_branded_host_is_404) {
    const std::string unsub = token(TokenKind::unsubscribe, "other.org");
    const std::string click = token(TokenKind::click, "other.org");
    auto at = [&](const std::string& host, const std::string& method, const std::string& target) {
        Request r;
        r.method = method;
        r.target = target;
        r.user_agent = kBrowser;
        r.peer = "192.0.2.7";
        r.host = host;
        if (method == "POST") {
            r.body = "List-Unsubscribe=One-Click";
            r.content_type = "application/x-www-form-urlencoded";
        }
        return handler->handle(r, now);
    };
    // example.com's branded name does not serve other.org's links.
    require_not_found(at("track.example.com", "GET", "/c/" + click));
    require_not_found(at("TRACK.example.com.", "GET", "/u/" + unsub));
    require_not_found(at("track.example.com:443", "POST", "/u/" + unsub));
    BOOST_TEST(!suppressed("other.org").has_value());
    // Its own branded name, the global host and no Host at all do.
    BOOST_TEST(at("track.other.org", "GET", "/c/" + click).status == 302);
    BOOST_TEST(at("t.relay.test", "GET", "/c/" + click).status == 302);
    BOOST_TEST(at("", "GET", "/u/" + unsub).status == 200);
}

BOOST_AUTO_TEST_CASE(tokens_of_unknown_or_removed_domains_are_404) {
    const std::string unknown = token(TokenKind::unsubscribe, "never-added.example");
    require_not_found(call("GET", "/u/" + unknown));
    require_not_found(call("POST", "/u/" + unknown, "List-Unsubscribe=One-Click"));
    require_not_found(call("GET", "/o/" + token(TokenKind::open, "never-added.example")));

    const std::string t = token(TokenKind::unsubscribe, "other.org");
    const std::string c = token(TokenKind::click, "other.org");
    BOOST_TEST(call("GET", "/u/" + t).status == 200);
    BOOST_TEST(call("GET", "/c/" + c).status == 302);
    admin->remove_domain("other.org");
    require_not_found(call("GET", "/u/" + t));
    require_not_found(call("POST", "/u/" + t, "List-Unsubscribe=One-Click"));
    require_not_found(call("GET", "/c/" + c));
    BOOST_TEST(!suppressed("other.org").has_value());
}

BOOST_AUTO_TEST_CASE(wrong_methods_are_405_with_allow) {
    const struct {
        const char* method;
        std::string target, allow;
    } cases[] = {
        {"POST", "/o/" + token(TokenKind::open), "GET, HEAD"},
        {"POST", "/c/x", "GET, HEAD"},
        {"PUT", "/u/" + token(TokenKind::unsubscribe), "GET, HEAD, POST"},
        {"DELETE", "/u/x", "GET, HEAD, POST"},
        {"POST", "/healthz", "GET, HEAD"},
        {"POST", "/tls-ask?domain=t.relay.test", "GET, HEAD"},
    };
    for (const auto& c : cases) BOOST_TEST_CONTEXT(c.method << " " << c.target) {
            const Response r = call(c.method, c.target);
            BOOST_TEST(r.status == 405);
            BOOST_TEST(r.header("Allow") == c.allow);
        }
    BOOST_TEST(stat(stats::kOpenHuman) + stat(stats::kOpenMachine) == 0);
}

BOOST_AUTO_TEST_CASE(healthz) {
    const Response r = call("GET", "/healthz");
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.body == "ok\n");
}

BOOST_AUTO_TEST_CASE(tls_ask_allows_only_hosts_we_serve) {
    const auto tracking_check = [](CheckStatus status) {
        CheckResult c;
        c.name = "tracking";
        c.expected = "t.relay.test";
        c.status = status;
        return c;
    };
    Domain d = admin->domain("example.com");
    d.checks.push_back(tracking_check(CheckStatus::ok));
    admin->save_domain(d);
    Domain o = admin->domain("other.org");
    o.checks.push_back(tracking_check(CheckStatus::missing));
    admin->save_domain(o);

    const struct {
        const char* query;
        int status;
    } cases[] = {
        {"domain=t.relay.test", 200},
        {"domain=T.Relay.Test.", 200},
        {"domain=track.example.com", 200},
        {"domain=TRACK.example.com", 200},
        {"domain=track.other.org", 404},  // check not ok
        {"domain=example.com", 404},      // the domain itself
        {"domain=www.example.com", 404},
        {"domain=track.never-added.example", 404},
        {"domain=track.", 404},
        {"domain=", 404},
        {"", 404},
        {"domain=evil.example", 404},
        {"domain=track.example.com%00.evil", 404},
        {"domain=t.relay.test/x", 404},
    };
    for (const auto& c : cases) BOOST_TEST_CONTEXT(c.query) {
            BOOST_TEST(call("GET", std::string("/tls-ask?") + c.query).status == c.status);
        }
    admin->remove_domain("example.com");
    BOOST_TEST(call("GET", "/tls-ask?domain=track.example.com").status == 404);
}

BOOST_AUTO_TEST_CASE(log_lines_name_no_token_and_no_recipient) {
    const std::string t = token(TokenKind::unsubscribe);
    Request r;
    r.method = "POST";
    r.target = "/u/" + t;
    r.body = "List-Unsubscribe=One-Click";
    r.user_agent = kBrowser;
    r.peer = "127.0.0.1";
    r.forwarded_for = "198.51.100.9, 10.0.0.1";
    const Response res = handler->handle(r, now);
    const std::string line = trackd::log_line(r, res);
    BOOST_TEST(line == "POST unsubscribe 200 domain=example.com class=- why=one-click client=198.51.100.9");
    BOOST_TEST(line.find(t.substr(3, 20)) == std::string::npos);
    BOOST_TEST(line.find("jane") == std::string::npos);

    Request o;
    o.method = "GET";
    o.target = "/o/" + token(TokenKind::open);
    o.user_agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; ms-office) via ggpht.com GoogleImageProxy";
    o.peer = "203.0.113.5";
    BOOST_TEST(trackd::log_line(o, handler->handle(o, now)) ==
               "GET open 200 domain=example.com class=machine why=ua client=203.0.113.5");
}

BOOST_AUTO_TEST_SUITE_END()
