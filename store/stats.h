// stats.h - the names of the per-domain, per-UTC-day statistics.
//
// Stats live in the counters environment (Store::add_stat / Store::stat,
// key domain NUL YYYYMMDD NUL metric), written without an fsync per event
// and synced once a second by the process that writes them. Every writer
// and reader uses these names, so `outpostctl stats` shows what the milter
// and outpost-trackd count.
#pragma once

#include <string>

namespace outpost::stats {

inline constexpr const char* kMessages = "messages";  // messages accepted (milter)
inline constexpr const char* kSent = "sent";          // recipients accepted (milter)
// "rejected." + reason token (milter): messages refused or deferred
inline std::string rejected(const std::string& token) {
    return "rejected." + token;
}
inline constexpr const char* kTracked = "tracked";                       // messages rewritten (milter)
inline constexpr const char* kUntrackedTooLarge = "untracked_too_large";  // over tracking.max_bytes

// outpost-trackd: opens and clicks split into human and machine (mail
// privacy proxies, link scanners); ".unique" counts the first open or click
// of a (message, recipient) pair where the link was per-recipient.
inline constexpr const char* kOpenHuman = "open.human";
inline constexpr const char* kOpenMachine = "open.machine";
inline constexpr const char* kOpenUnique = "open.unique";
inline constexpr const char* kClickHuman = "click.human";
inline constexpr const char* kClickMachine = "click.machine";
inline constexpr const char* kClickUnique = "click.unique";
// Unsubscribes by channel: RFC 8058 one-click POST, the confirmation page's
// button, mail to the List-Unsubscribe mailto address (outpostctl ingest).
inline constexpr const char* kUnsubscribeOneClick = "unsubscribe.one_click";
inline constexpr const char* kUnsubscribePage = "unsubscribe.page";
inline constexpr const char* kUnsubscribeMailto = "unsubscribe.mailto";

// Bounces and complaints (outpostctl ingest dsn|arf): permanent failures
// (5.x.x) and temporary ones (4.x.x, "delayed") per recipient reported, and
// feedback-loop complaints. Health rates are bounce.hard and complaint
// against sent over health.window_days.
inline constexpr const char* kBounceHard = "bounce.hard";
inline constexpr const char* kBounceSoft = "bounce.soft";
inline constexpr const char* kComplaint = "complaint";
inline constexpr const char* kSuppressedBounce = "suppressed.bounce";        // recipients suppressed for bounces
inline constexpr const char* kSuppressedComplaint = "suppressed.complaint";  // and for complaints

}  // namespace outpost::stats
