// trackd_handler.h - outpost-trackd's routes: one request in, one response
// out, no sockets (trackd_server.h does the HTTP), so tests call it directly.
//
//   GET|HEAD /o/<token>       open pixel: 200, a 43-byte transparent GIF
//   GET|HEAD /c/<token>       click: 302 to the URL sealed in the token
//   GET|HEAD /u/<token>       unsubscribe confirmation page (changes nothing:
//                             link scanners prefetch)
//   POST     /u/<token>       List-Unsubscribe=One-Click (RFC 8058), or the
//                             page's button (confirm=1): suppresses the
//                             token's recipient for its domain, then 200
//   GET|HEAD /healthz         200 "ok" while the store is readable
//   GET|HEAD /tls-ask?domain=H  200 if the TLS proxy may get a certificate
//                             for H: tracking.host, or <records.tracking>.D
//                             for a domain D not deleted whose "tracking"
//                             check is ok; else 404
//
// A token that does not verify (forged, altered, expired, another kind, a
// retired key), whose domain is not in the store or deleted, or that arrives
// on another domain's branded host (Host <records.tracking>.OTHER: a token
// of one domain never works under another's name), is a plain 404 "not
// found", the same as an unknown path; a known path with another
// method is 405 with Allow. Store faults are 503 (the request can be
// retried; an unsubscribe is never reported done unless it was committed).
//
// Counting (counters environment, no fsync per event):
//   open.human|open.machine, click.human|click.machine  every request
//   open.unique, click.unique  the first human request for a (queue id,
//       recipient) pair, where the token names exactly one recipient
//       digest and a queue id. The pair is remembered as the counter
//           "seen" NUL ("o"|"c") NUL domain NUL queue-id NUL hex(digest)
//       set to 1 (never pruned: one small key per tracked recipient).
//   unsubscribe.one_click|unsubscribe.page  when a recipient is newly
//       suppressed (a repeat answers 200 and counts nothing)
// A failed counter write is logged and never fails the request.
//
// Thread-safety: handle() is const and may run on several threads at once;
// replace() swaps the settings (SIGHUP) for the requests that start after it.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "store/store.h"
#include "store/tokens.h"

namespace outpost::trackd {

// What SIGHUP replaces as one: the configuration and the token secrets.
struct Settings {
    Config config;
    TokenKeys keys;
};

struct Request {
    std::string method;  // as sent: GET, HEAD, POST, ...
    std::string target;  // request-target as sent ("/o/2k1.AbC?x")
    std::string user_agent;
    std::string forwarded_for;  // X-Forwarded-For ("" if absent)
    std::string content_type;
    std::string body;
    std::string peer;  // socket peer address, no port
    std::string host;  // Host header ("" if absent)
};

struct Response {
    int status = 404;
    std::string content_type = "text/plain; charset=utf-8";
    std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type/-Length, Server
    std::string body;

    // For the log line only (never the token, never the recipient).
    std::string kind = "-";  // open | click | unsubscribe | healthz | tls-ask | -
    std::string domain;      // "" if none
    std::string cls;         // human | machine | "" (not classified)
    std::string why;         // classification reason, or what went wrong
    std::string client;      // see client_address()

    std::string header(std::string_view name) const;
};

// "GET open 200 domain=example.com class=human client=192.0.2.7"
std::string log_line(const Request& req, const Response& res);

// The transparent 1x1 GIF served for opens (43 bytes).
std::string_view pixel_gif();

class Handler {
public:
    // `store` must outlive the handler.
    Handler(Store& store, std::shared_ptr<const Settings> settings);

    Response handle(const Request& req, int64_t now) const;

    std::shared_ptr<const Settings> settings() const;
    void replace(std::shared_ptr<const Settings> settings);

private:
    Response open_or_click(const Request& req, const Settings& s, std::string_view token, bool click,
                           int64_t now) const;
    Response unsubscribe(const Request& req, const Settings& s, std::string_view token, int64_t now) const;
    // The token's domain if it is served (not removed); else the 404 (or 503
    // when the store fails) to answer.
    std::optional<Response> lookup_domain(const std::string& name, Domain& d) const;
    Response tls_ask(const Settings& s, std::string_view query) const;
    Response healthz() const;
    // Adds 1 to `metric` (and to `unique_metric` the first time `seen_key` is
    // seen, if given); logs and swallows every failure.
    void count(const std::string& domain, int64_t now, const char* metric, const std::string& seen_key,
               const char* unique_metric) const noexcept;

    Store& store_;
    mutable std::mutex mu_;
    std::shared_ptr<const Settings> settings_;
};

}  // namespace outpost::trackd
