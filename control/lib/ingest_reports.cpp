// ingest_reports.cpp - DSN and ARF reports applied to suppression, stats and
// health.
#include "control/lib/ingest_reports.h"

#include <algorithm>
#include <cctype>

#include "control/lib/admin.h"
#include "dns/domain_name.h"
#include "control/lib/health.h"
#include "control/lib/reports.h"
#include "store/stats.h"
#include "base/text.h"

namespace outpost {
namespace {

constexpr int64_t kBounceMemory = 30 * 86400;  // permanent failures further apart start a new count

ReportResult unused(std::string why, std::string domain = "") {
    ReportResult r;
    r.reason = std::move(why);
    r.domain = std::move(domain);
    return r;
}

// Statuses that say the mailbox does not exist or never will (RFC 3463):
// bad mailbox, bad system, bad address syntax, mailbox moved, bad
// recipient address (RFC 3886's 5.1.10), mailbox disabled.
bool no_such_mailbox(const std::string& status) {
    static const char* const hard[] = {"5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.2.1"};
    return std::find(std::begin(hard), std::end(hard), status) != std::end(hard);
}

std::string address_or_empty(const std::string& a) {
    try {
        return a.empty() ? "" : normalize_address(a);
    } catch (const std::exception&) {
        return "";
    }
}

// What a VERP address proves, or why it proves nothing.
struct Verp {
    bool present = false;  // the address has the VERP shape
    std::optional<TokenPayload> token;
    std::string why;
};

Verp check_verp(const TokenKeys& keys, const Config& cfg, const std::string& address, int64_t now) {
    Verp v;
    const std::string t = verp_token_of(cfg, address);
    if (t.empty()) return v;
    v.present = true;
    auto p = keys.verify(t, TokenKind::bounce, now, cfg.bounces.lifetime.count());
    if (!p) {
        v.why = "the VERP token is forged, expired or not a bounce token";
        return v;
    }
    const std::string host = lower(address.substr(address.rfind('@') + 1));
    if (host != lower(cfg.records.mailfrom) + "." + p->domain) {
        v.why = "the VERP token is for " + p->domain + ", not for " + host;
        return v;
    }
    v.token = std::move(p);
    return v;
}

bool domain_live(Store& store, const std::string& name) {
    auto t = store.read();
    auto d = store.domain(t, name);
    return d && !d->deleted;
}

void add_stats(Store& store, const std::string& domain, int64_t now,
               const std::vector<std::pair<const char*, int64_t>>& counts) {
    auto c = store.write_counters();
    for (const auto& [metric, n] : counts)
        if (n) store.add_stat(c, domain, utc_day(now), metric, n);
    c.commit();
    store.sync_counters();  // a bounce counts toward suspension: keep it
}

// Suppresses `address` for `domain` unless it already is; true if new.
bool suppress(Store& store, const std::string& domain, const std::string& address, const char* reason,
              const std::string& detail, const std::string& queue_id, int64_t now) {
    auto t = store.write();
    if (store.suppressed(t, domain, address)) return false;
    store.suppress(t, domain, address,
                   {{"reason", reason}, {"detail", detail}, {"at", now}, {"message", queue_id}});
    t.commit();
    return true;
}

// Another permanent failure of `address`: true when it reaches
// bounces.suppress_after.
bool permanent_failure_counts(Store& store, const Config& cfg, const std::string& domain,
                              const std::string& address, int64_t now) {
    const std::string n_key = std::string("bounces") + '\0' + domain + '\0' + address;
    const std::string at_key = n_key + '\0' + "at";
    auto c = store.write_counters();
    int64_t n = store.counter(c, n_key);
    if (now - store.counter(c, at_key) > kBounceMemory) n = 0;
    ++n;
    store.set_counter(c, n_key, n);
    store.set_counter(c, at_key, now);
    c.commit();
    return n >= cfg.bounces.suppress_after;
}

void finish(Store& store, const Config& cfg, ReportResult& r, int64_t now) {
    r.used = true;
    HealthVerdict v = apply_health(store, cfg, r.domain, now);
    if (v.bounce == HealthLevel::suspend || v.complaint == HealthLevel::suspend) r.health = v.reason;
}

}  // namespace

std::string verp_token_of(const Config& cfg, std::string_view address) {
    std::string a(address);
    if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
    const size_t at = a.rfind('@');
    const std::string prefix = cfg.relay.verp_prefix + "+";
    if (at == std::string::npos || at <= prefix.size() || lower(a.substr(0, prefix.size())) != lower(prefix))
        return "";
    return a.substr(prefix.size(), at - prefix.size());
}

ReportResult ingest_dsn(Store& store, const TokenKeys& keys, const Config& cfg, std::string_view message,
                        const std::string& envelope_recipient, int64_t now) {
    const Dsn dsn = parse_dsn(message);
    if (!dsn.ok) return unused("not a delivery status notification outpost can read: " + dsn.error);

    Verp v = check_verp(keys, cfg, envelope_recipient, now);
    if (!v.present) v = check_verp(keys, cfg, dsn.original.return_path, now);
    if (!v.present) return unused("no VERP return path: not about a message outpost sent");
    if (!v.token) return unused(v.why);
    const TokenPayload& token = *v.token;
    if (!domain_live(store, token.domain))
        return unused("domain " + token.domain + " is no longer an outpost domain", token.domain);

    ReportResult r;
    r.domain = token.domain;
    r.matched_by = "verp";
    for (const auto& rc : dsn.recipients) {
        const std::string address =
            address_or_empty(rc.final_recipient.empty() ? rc.original_recipient : rc.final_recipient);
        const bool failed = rc.action == "failed" && !rc.status.empty() && rc.status[0] == '5';
        const bool delayed = rc.action == "delayed" || (!rc.status.empty() && rc.status[0] == '4');
        if (!failed && !delayed) continue;  // delivered, relayed, expanded: nothing to do
        if (address.empty() || !token.names(address)) {
            ++r.ignored;
            continue;
        }
        if (delayed && !failed) {
            ++r.soft;
            continue;
        }
        ++r.hard;
        // A generic x.0.0 (Exim writes 5.0.0 over the server's 5.1.1) takes
        // the more precise code of the SMTP reply, when its class agrees.
        const std::string status = rc.status.size() == 5 && rc.status.substr(1) == ".0.0" &&
                                           !rc.diagnostic_status.empty() &&
                                           rc.diagnostic_status[0] == rc.status[0]
                                       ? rc.diagnostic_status
                                       : rc.status;
        const bool now_suppress =
            no_such_mailbox(status) || permanent_failure_counts(store, cfg, r.domain, address, now);
        if (now_suppress &&
            suppress(store, r.domain, address, "bounce", status + " " + rc.diagnostic, token.message, now))
            r.suppressed.push_back(address);
    }
    if (r.hard + r.soft == 0)
        return unused(r.ignored ? "the report names no recipient the VERP token was issued for"
                                : "the report holds no failed or delayed recipient",
                      r.domain);
    add_stats(store, r.domain, now,
              {{stats::kBounceHard, r.hard},
               {stats::kBounceSoft, r.soft},
               {stats::kSuppressedBounce, static_cast<int64_t>(r.suppressed.size())}});
    finish(store, cfg, r, now);
    return r;
}

ReportResult ingest_arf(Store& store, const TokenKeys& keys, const Config& cfg, std::string_view message,
                        const std::string& envelope_recipient, int64_t now) {
    const Arf arf = parse_arf(message);
    if (!arf.ok) return unused("not a feedback report outpost can read: " + arf.error);
    static const char* const complaints[] = {"abuse", "fraud", "virus", "other"};
    if (std::find(std::begin(complaints), std::end(complaints), arf.feedback_type) == std::end(complaints))
        return unused("feedback type " + (arf.feedback_type.empty() ? "(none)" : arf.feedback_type) +
                      " is not a complaint");

    ReportResult r;
    std::optional<TokenPayload> token;
    for (const std::string& a : {arf.original_mail_from, arf.original.return_path, envelope_recipient}) {
        Verp v = check_verp(keys, cfg, a, now);
        if (!v.present) continue;
        if (!v.token) return unused(v.why);
        token = std::move(v.token);
        r.domain = token->domain;
        r.matched_by = "verp";
        break;
    }
    if (!token) {
        auto t = store.read();
        for (const auto& [d, s] : arf.original.dkim) {
            auto dom = store.domain(t, d);
            if (dom && !dom->deleted && dom->find_selector(s)) {
                r.domain = dom->name;
                r.matched_by = "dkim";
                break;
            }
        }
        if (r.domain.empty()) {
            const std::string from = address_or_empty(arf.original.from);
            if (!from.empty()) {
                auto dom = store.domain(t, from.substr(from.rfind('@') + 1));
                if (dom && !dom->deleted) {
                    r.domain = dom->name;
                    r.matched_by = "from";
                }
            }
        }
        if (r.domain.empty())
            return unused(
                "neither a VERP token, an outpost DKIM signature nor an outpost From domain: "
                "not about a message outpost sent");
    }
    if (!domain_live(store, r.domain))
        return unused("domain " + r.domain + " is no longer an outpost domain", r.domain);

    // Who complained: the token's recipient, else the report's
    // Original-Rcpt-To, else the original's To; a token with a recipient
    // set must name it.
    std::string who;
    if (token && !token->recipient.empty())
        who = token->recipient;
    else
        who = address_or_empty(arf.original_rcpt_to.empty() ? arf.original.to : arf.original_rcpt_to);
    if (!who.empty() && token && token->recipient.empty() && !token->names(who)) {
        ++r.ignored;
        who.clear();
    }
    r.complaints = 1;
    if (!who.empty() &&
        suppress(store, r.domain, who, "complaint", arf.feedback_type, token ? token->message : "", now))
        r.suppressed.push_back(who);
    add_stats(
        store, r.domain, now,
        {{stats::kComplaint, 1}, {stats::kSuppressedComplaint, static_cast<int64_t>(r.suppressed.size())}});
    finish(store, cfg, r, now);
    return r;
}

}  // namespace outpost
