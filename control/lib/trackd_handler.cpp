// trackd_handler.cpp - the routes of outpost-trackd (see trackd_handler.h).
#include "control/lib/trackd_handler.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "control/lib/trackd_classify.h"
#include "base/error.h"
#include "base/html.h"
#include "base/log.h"
#include "store/stats.h"
#include "base/text.h"

namespace outpost::trackd {
namespace {

// GIF89a, 1x1, a two-colour table, a graphic control extension marking
// colour 0 transparent, one image, the trailer.
constexpr unsigned char kGif[] = {0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80,
                                  0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04,
                                  0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01,
                                  0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};
static_assert(sizeof kGif == 43);

constexpr const char* kPageCsp = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'";

enum class Route { open, click, unsubscribe, healthz, tls_ask, none };

struct Target {
    Route route = Route::none;
    std::string_view rest;   // the token, for /o/ /c/ /u/
    std::string_view query;  // after '?', without it
};

Target parse_target(std::string_view target) {
    Target t;
    std::string_view path = target;
    if (auto q = path.find('?'); q != std::string_view::npos) {
        t.query = path.substr(q + 1);
        path = path.substr(0, q);
    }
    const auto starts = [&](std::string_view p) { return path.substr(0, p.size()) == p; };
    if (starts("/o/")) t.route = Route::open;
    if (starts("/c/")) t.route = Route::click;
    if (starts("/u/")) t.route = Route::unsubscribe;
    if (t.route != Route::none) t.rest = path.substr(3);
    if (path == "/healthz") t.route = Route::healthz;
    if (path == "/tls-ask") t.route = Route::tls_ask;
    return t;
}

const char* kind_name(Route r) {
    switch (r) {
        case Route::open:
            return "open";
        case Route::click:
            return "click";
        case Route::unsubscribe:
            return "unsubscribe";
        case Route::healthz:
            return "healthz";
        case Route::tls_ask:
            return "tls-ask";
        case Route::none:
            break;
    }
    return "-";
}

const char* allowed_methods(Route r) {
    return r == Route::unsubscribe ? "GET, HEAD, POST" : "GET, HEAD";
}

bool method_allowed(Route r, std::string_view m) {
    return m == "GET" || m == "HEAD" || (r == Route::unsubscribe && m == "POST");
}

// Tokens are "2" KID "." base64url: anything else is refused before any
// crypto runs.
bool token_shape(std::string_view t) {
    if (t.empty() || t.size() > TokenKeys::kMaxTokenLength) return false;
    return std::all_of(t.begin(), t.end(),
                       [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_' || c == '.'; });
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// application/x-www-form-urlencoded value decoding ('+' is a space).
std::string form_decode(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

// The value of field `name` in a urlencoded string, or nullopt.
std::optional<std::string> form_field(std::string_view form, std::string_view name) {
    while (!form.empty()) {
        const size_t amp = form.find('&');
        std::string_view pair = form.substr(0, amp);
        form = amp == std::string_view::npos ? std::string_view() : form.substr(amp + 1);
        const size_t eq = pair.find('=');
        if (form_decode(pair.substr(0, eq)) != name) continue;
        return eq == std::string_view::npos ? std::string() : form_decode(pair.substr(eq + 1));
    }
    return std::nullopt;
}

enum class UnsubscribeVia { one_click, page, unknown };

// RFC 8058 asks for the field List-Unsubscribe=One-Click, urlencoded or as
// multipart/form-data; the confirmation page posts confirm=1.
UnsubscribeVia unsubscribe_via(const Request& req) {
    const std::string ct = lower(req.content_type);
    if (ct.find("multipart/form-data") != std::string::npos) {
        const std::string body = lower(req.body);
        const size_t name = body.find("name=\"list-unsubscribe\"");
        if (name != std::string::npos && body.find("one-click", name) != std::string::npos)
            return UnsubscribeVia::one_click;
        return UnsubscribeVia::unknown;
    }
    const std::string body = trim(req.body);
    if (auto v = form_field(body, "List-Unsubscribe"); v && lower(*v) == "one-click")
        return UnsubscribeVia::one_click;
    if (auto v = form_field(body, "confirm"); v && *v == "1") return UnsubscribeVia::page;
    return UnsubscribeVia::unknown;
}

// "j•••@example.org": the first character of the local part (a whole UTF-8
// sequence) and the domain; enough for a person to recognise the address,
// too little to learn it from a forwarded link.
std::string mask_address(const std::string& address) {
    const size_t at = address.rfind('@');
    const std::string local = at == std::string::npos ? address : address.substr(0, at);
    const std::string domain = at == std::string::npos ? "" : address.substr(at);
    size_t first = local.empty() ? 0 : 1;
    while (first < local.size() && (static_cast<unsigned char>(local[first]) & 0xc0) == 0x80) ++first;
    return local.substr(0, first) + "\u2022\u2022\u2022" + domain;
}

const char* kPageStyle =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:#f4f5f7;"
    "color:#1f2328;margin:0;padding:2rem 1rem}"
    "main{max-width:28rem;margin:3rem auto;background:#fff;border:1px solid #d8dee4;"
    "border-radius:8px;padding:2rem}"
    "h1{font-size:1.35rem;margin:0 0 1rem}"
    "p{line-height:1.5;margin:0 0 1.25rem}"
    "button{font:inherit;font-weight:600;background:#1f6feb;color:#fff;border:0;border-radius:6px;"
    "padding:.65rem 1.4rem;cursor:pointer}"
    "button:hover,button:focus{background:#1a5fd0}"
    ".note{font-size:.875rem;color:#57606a;margin:1.25rem 0 0}";

std::string page(const std::string& title, const std::string& main_html) {
    return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "<meta name=\"robots\" content=\"noindex, nofollow\">\n<title>" +
           html_escape(title) + "</title>\n<style>" + kPageStyle + "</style>\n</head>\n<body>\n<main>\n" +
           main_html + "</main>\n</body>\n</html>\n";
}

std::string confirm_page(const std::string& domain, const std::string& recipient, std::string_view token) {
    return page("Unsubscribe",
                "<h1>Unsubscribe</h1>\n<p>Stop receiving mail from <strong>" + html_escape(domain) +
                    "</strong> at <strong>" + html_escape(mask_address(recipient)) +
                    "</strong>?</p>\n<form method=\"post\" action=\"/u/" + html_escape(token) +
                    "\">\n<input type=\"hidden\" name=\"confirm\" value=\"1\">\n"
                    "<button type=\"submit\">Unsubscribe</button>\n</form>\n"
                    "<p class=\"note\">To keep receiving this mail, just close this page.</p>\n");
}

std::string done_page(const std::string& domain, const std::string& recipient) {
    return page("Unsubscribed",
                "<h1>You are unsubscribed</h1>\n<p>You will no longer receive mail from <strong>" +
                    html_escape(domain) + "</strong> at <strong>" + html_escape(mask_address(recipient)) +
                    "</strong>.</p>\n");
}

Response text(int status, std::string body) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
}

Response not_found(std::string why = "") {
    Response r = text(404, "not found\n");
    r.why = std::move(why);
    return r;
}

Response unavailable(const std::exception& e) {
    log_error(std::string("store: ") + e.what());
    Response r = text(503, "temporarily unavailable, try again later\n");
    r.headers.emplace_back("Retry-After", "60");
    r.why = "store";
    return r;
}

// A click target must be an absolute http(s) URL with nothing that could
// end or split a header line. The token is authenticated, so this only
// guards against a bad issuer.
bool safe_url(const std::string& url) {
    const std::string l = lower(url.substr(0, 8));
    if (l.rfind("http://", 0) != 0 && l.rfind("https://", 0) != 0) return false;
    return std::none_of(url.begin(), url.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7f; });
}

std::string hex(const RecipientDigest& d) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (uint8_t b : d) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

std::string seen_key(char kind, const TokenPayload& p) {
    std::string k = "seen";
    for (const std::string& part : {std::string(1, kind), p.domain, p.message, hex(p.recipients.front())}) {
        k += '\0';
        k += part;
    }
    return k;
}

// The domain of a token, if it is (still) served.
bool domain_served(const Store& store, const lmdb::Txn& t, const std::string& name, Domain* out = nullptr) {
    auto d = store.domain(t, name);
    if (!d || d->deleted) return false;
    if (out) *out = std::move(*d);
    return true;
}

// False when the request came in on the branded tracking host of another
// domain than the token's. The global host, the token's own branded host and
// any other name (a proxy that rewrites Host, direct access) are accepted.
bool host_fits(const Config& cfg, std::string host, const std::string& domain) {
    host = lower(host);
    if (auto colon = host.rfind(':'); colon != std::string::npos && host.find(']') == std::string::npos)
        host.erase(colon);
    if (!host.empty() && host.back() == '.') host.pop_back();
    const std::string label = lower(cfg.records.tracking) + ".";
    if (host.empty() || host == lower(cfg.tracking.host) || host.compare(0, label.size(), label) != 0)
        return true;
    return host.substr(label.size()) == domain;
}

}  // namespace

std::string Response::header(std::string_view name) const {
    for (const auto& [n, v] : headers)
        if (lower(n) == lower(name)) return v;
    return "";
}

std::string log_line(const Request& req, const Response& res) {
    auto or_dash = [](const std::string& v) { return v.empty() ? std::string("-") : log_value(v); };
    std::string line = or_dash(req.method) + " " + res.kind + " " + std::to_string(res.status);
    line += " domain=" + or_dash(res.domain);
    line += " class=" + or_dash(res.cls);
    if (!res.why.empty()) line += " why=" + log_value(res.why);
    line += " client=" + or_dash(res.client.empty() ? req.peer : res.client);
    return line;
}

std::string_view pixel_gif() {
    return {reinterpret_cast<const char*>(kGif), sizeof kGif};
}

Handler::Handler(Store& store, std::shared_ptr<const Settings> settings)
    : store_(store), settings_(std::move(settings)) {}

std::shared_ptr<const Settings> Handler::settings() const {
    std::lock_guard<std::mutex> lock(mu_);
    return settings_;
}

void Handler::replace(std::shared_ptr<const Settings> settings) {
    std::lock_guard<std::mutex> lock(mu_);
    settings_ = std::move(settings);
}

Response Handler::handle(const Request& req, int64_t now) const {
    const auto s = settings();
    const Target target = parse_target(req.target);
    Response res;
    if (target.route == Route::none) {
        res = not_found();
    } else if (!method_allowed(target.route, req.method)) {
        res = text(405, "method not allowed\n");
        res.headers.emplace_back("Allow", allowed_methods(target.route));
    } else {
        switch (target.route) {
            case Route::open:
            case Route::click:
                res = open_or_click(req, *s, target.rest, target.route == Route::click, now);
                break;
            case Route::unsubscribe:
                res = unsubscribe(req, *s, target.rest, now);
                break;
            case Route::healthz:
                res = healthz();
                break;
            case Route::tls_ask:
                res = tls_ask(*s, target.query);
                break;
            case Route::none:
                break;
        }
    }
    res.kind = kind_name(target.route);
    if (res.client.empty()) res.client = client_address(req.peer, req.forwarded_for);
    res.headers.emplace_back("X-Content-Type-Options", "nosniff");
    return res;
}

Response Handler::open_or_click(const Request& req, const Settings& s, std::string_view token, bool click,
                                int64_t now) const {
    const auto lifetime = click ? s.config.tracking.click_lifetime : s.config.tracking.open_lifetime;
    if (!token_shape(token)) return not_found("token");
    auto p = s.keys.verify(token, click ? TokenKind::click : TokenKind::open, now, lifetime.count());
    if (!p) return not_found("token");
    if (!host_fits(s.config, req.host, p->domain)) return not_found("host");
    if (click && !safe_url(p->url)) return not_found("url");
    Domain d;
    if (auto refused = lookup_domain(p->domain, d)) return *refused;

    Response r;
    r.domain = p->domain;
    r.client = client_address(req.peer, req.forwarded_for);
    const Classification c = classify({req.method == "HEAD", req.user_agent, r.client, now - p->issued_at});
    r.cls = c.machine ? "machine" : "human";
    r.why = c.why;
    const bool unique = !c.machine && p->recipients.size() == 1 && !p->message.empty();
    if (click) {
        count(p->domain, now, c.machine ? stats::kClickMachine : stats::kClickHuman,
              unique ? seen_key('c', *p) : "", stats::kClickUnique);
        r.status = 302;
        r.headers = {{"Location", p->url}, {"Cache-Control", "no-store"}, {"Referrer-Policy", "no-referrer"}};
    } else {
        count(p->domain, now, c.machine ? stats::kOpenMachine : stats::kOpenHuman,
              unique ? seen_key('o', *p) : "", stats::kOpenUnique);
        r.status = 200;
        r.content_type = "image/gif";
        r.body = std::string(pixel_gif());
        r.headers = {{"Cache-Control", "no-store, no-cache, must-revalidate, private"},
                     {"Pragma", "no-cache"}};
    }
    return r;
}

std::optional<Response> Handler::lookup_domain(const std::string& name, Domain& d) const {
    std::optional<Response> refused;
    try {
        auto t = store_.read();
        if (domain_served(store_, t, name, &d)) return std::nullopt;
        refused = not_found("domain");
    } catch (const std::exception& e) {
        refused = unavailable(e);
    }
    refused->domain = name;
    return refused;
}

Response Handler::unsubscribe(const Request& req, const Settings& s, std::string_view token,
                              int64_t now) const {
    if (!token_shape(token)) return not_found("token");
    auto p =
        s.keys.verify(token, TokenKind::unsubscribe, now, s.config.tracking.unsubscribe_lifetime.count());
    if (!p || p->recipient.empty()) return not_found("token");
    if (!host_fits(s.config, req.host, p->domain)) return not_found("host");
    const std::string address = lower(p->recipient);
    Domain d;
    if (auto refused = lookup_domain(p->domain, d)) return *refused;
    const std::string shown = d.unicode_name.empty() ? d.name : d.unicode_name;

    Response r;
    r.domain = p->domain;
    if (req.method != "POST") {
        r.status = 200;
        r.content_type = "text/html; charset=utf-8";
        r.body = confirm_page(shown, address, token);
        r.headers = {{"Content-Security-Policy", kPageCsp},
                     {"X-Frame-Options", "DENY"},
                     {"Cache-Control", "no-store"},
                     {"Referrer-Policy", "no-referrer"}};
        return r;
    }

    const UnsubscribeVia via = unsubscribe_via(req);
    if (via == UnsubscribeVia::unknown) {
        Response bad = text(400, "bad request: expected List-Unsubscribe=One-Click\n");
        bad.domain = p->domain;
        bad.why = "body";
        return bad;
    }
    const bool one_click = via == UnsubscribeVia::one_click;
    bool newly = false;
    try {
        // The suppression must survive a crash: a normal, synced commit in
        // the main environment, checked again inside the write transaction.
        auto t = store_.write();
        if (!domain_served(store_, t, p->domain)) {
            Response gone = not_found("domain");
            gone.domain = p->domain;
            return gone;
        }
        if (!store_.suppressed(t, p->domain, address)) {
            store_.suppress(t, p->domain, address,
                            {{"reason", "unsubscribe"},
                             {"source", one_click ? "one-click" : "page"},
                             {"at", now},
                             {"message", p->message}});
            t.commit();
            newly = true;
        }
    } catch (const std::exception& e) {
        Response fail = unavailable(e);
        fail.domain = p->domain;
        return fail;
    }
    if (newly)
        count(p->domain, now, one_click ? stats::kUnsubscribeOneClick : stats::kUnsubscribePage, "", nullptr);
    r.why = newly ? (one_click ? "one-click" : "page") : "again";
    r.status = 200;
    r.headers = {{"Cache-Control", "no-store"}};
    if (one_click) {
        r.body = "unsubscribed\n";
    } else {
        r.content_type = "text/html; charset=utf-8";
        r.body = done_page(shown, address);
        r.headers.emplace_back("Content-Security-Policy", kPageCsp);
        r.headers.emplace_back("X-Frame-Options", "DENY");
        r.headers.emplace_back("Referrer-Policy", "no-referrer");
    }
    return r;
}

Response Handler::tls_ask(const Settings& s, std::string_view query) const {
    auto field = form_field(query, "domain");
    if (!field) return not_found("host");
    std::string host = lower(*field);
    if (!host.empty() && host.back() == '.') host.pop_back();
    const bool shaped =
        !host.empty() && host.size() <= 253 && std::all_of(host.begin(), host.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
        });
    if (!shaped) return not_found("host");
    Response r = text(200, "ok\n");
    if (host == lower(s.config.tracking.host)) return r;
    const std::string label = lower(s.config.records.tracking) + ".";
    if (label.size() < 2 || host.compare(0, label.size(), label) != 0) return not_found("host");
    const std::string name = host.substr(label.size());
    try {
        auto t = store_.read();
        Domain d;
        if (!domain_served(store_, t, name, &d)) return not_found("host");
        r.domain = d.name;
        const bool ok = std::any_of(d.checks.begin(), d.checks.end(), [](const CheckResult& c) {
            return c.name == "tracking" && c.status == CheckStatus::ok;
        });
        if (!ok) {
            Response no = not_found("unverified");
            no.domain = d.name;
            return no;
        }
        return r;
    } catch (const std::exception& e) {
        return unavailable(e);
    }
}

Response Handler::healthz() const {
    try {
        auto t = store_.read();
        (void)t.get(store_.dbi().meta, "schema_version");
        return text(200, "ok\n");
    } catch (const std::exception& e) {
        return unavailable(e);
    }
}

void Handler::count(const std::string& domain, int64_t now, const char* metric, const std::string& seen,
                    const char* unique_metric) const noexcept {
    try {
        const std::string day = utc_day(now);
        store_.update_counters([&](lmdb::WriteTxn& t) {
            store_.add_stat(t, domain, day, metric, 1);
            if (!seen.empty() && unique_metric && store_.counter(t, seen) == 0) {
                // The mark holds the day it was set, so the hourly pruning
                // can let it go with that day's stats (store.stats_days).
                store_.set_counter(t, seen, std::stoll(day));
                store_.add_stat(t, domain, day, unique_metric, 1);
            }
            return true;
        });
    } catch (const std::exception& e) {
        try {
            log_error("stats not written for " + log_value(domain) + ": " + e.what());
        } catch (...) {
        }
    } catch (...) {
    }
}

}  // namespace outpost::trackd
