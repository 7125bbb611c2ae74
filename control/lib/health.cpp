// health.cpp - bounce and complaint rates, verdicts, automatic suspension.
#include "control/lib/health.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <vector>

#include "base/log.h"
#include "store/stats.h"

namespace outpost {
namespace {

constexpr int64_t kDay = 86400;

int64_t int_field(const nlohmann::json& e, const char* key) {
    auto it = e.find(key);
    return it != e.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

// The time of the domain's last domain.reinstated event, or 0.
int64_t last_reinstatement(const Store& store, const lmdb::Txn& t, const std::string& domain) {
    int64_t at = 0;
    for (const auto& e : store.events(t, domain)) {
        auto type = e.find("type");
        if (type != e.end() && type->is_string() && *type == "domain.reinstated")
            at = std::max(at, int_field(e, "at"));
    }
    return at;
}

// "Above" is strict, and exactly 10 of 10000 is exactly 0.1%: the
// threshold parsed from "0.1%" (0.1 / 100) and the rate (10.0 / 10000) may
// differ in the last bit, so a difference below 1e-12 is equality (rates
// are multiples of 1/sent, far coarser for any real volume).
bool above(double rate, double threshold) {
    return rate - threshold > 1e-12;
}

HealthLevel level_of(double rate, double warn, double suspend) {
    if (above(rate, suspend)) return HealthLevel::suspend;
    if (above(rate, warn)) return HealthLevel::warn;
    return HealthLevel::ok;
}

std::string window_text(const HealthRates& r) {
    if (r.days == 0) return "since the reinstatement today";
    std::string s = "over " + std::to_string(r.days) + (r.days == 1 ? " day" : " days");
    if (r.reinstated_at) s += " since reinstatement";
    return s;
}

// "bounce rate 12.0% over 7 days (1200 of 10000; suspend above 10.0%)"
std::string part(const char* what, double rate, int64_t n, const HealthRates& r, HealthLevel level,
                 double threshold) {
    return std::string(what) + " rate " + percent_text(rate) + " " + window_text(r) + " (" +
           std::to_string(n) + " of " + std::to_string(r.sent) + "; " + to_string(level) + " above " +
           percent_text(threshold) + ")";
}

// What is at `min` or worse, worst first; bounce before complaint.
std::string reason_text(const HealthVerdict& v, HealthLevel min) {
    const HealthThresholds& th = *v.thresholds;
    std::vector<std::string> parts;
    for (HealthLevel l : {HealthLevel::suspend, HealthLevel::warn}) {
        if (l < min) continue;
        if (v.bounce == l)
            parts.push_back(part("bounce", v.rates.bounce_rate, v.rates.hard_bounces, v.rates, l,
                                 l == HealthLevel::suspend ? th.bounce_suspend : th.bounce_warn));
        if (v.complaint == l)
            parts.push_back(part("complaint", v.rates.complaint_rate, v.rates.complaints, v.rates, l,
                                 l == HealthLevel::suspend ? th.complaint_suspend : th.complaint_warn));
    }
    std::string s;
    for (const auto& p : parts) s += (s.empty() ? "" : "; ") + p;
    return s;
}

// The milter quotes suspended_reason in its SMTP reply, which drops '%'
// (Sendmail would expand it) and anything not printable ASCII.
std::string smtp_safe(const std::string& reason) {
    std::string out;
    for (unsigned char c : reason) {
        if (c == '%')
            out += " percent";
        else if (c >= 0x20 && c <= 0x7e)
            out += static_cast<char>(c);
    }
    if (out.size() > 200) out.resize(200);
    return out;
}

}  // namespace

const char* to_string(HealthLevel l) {
    switch (l) {
        case HealthLevel::ok:
            return "ok";
        case HealthLevel::warn:
            return "warn";
        case HealthLevel::suspend:
            return "suspend";
    }
    return "?";
}

HealthLevel HealthVerdict::level() const {
    return std::max(bounce, complaint);
}

std::string percent_text(double fraction) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", 100.0 * fraction);
    std::string s = buf;
    // Two decimals for 0.05%, one at least for 10.0%.
    if (s.size() > 1 && s.back() == '0' && s[s.size() - 3] == '.') s.pop_back();
    return s + "%";
}

HealthRates health_rates(const Store& store, const lmdb::Txn& t, const std::string& domain, int window_days,
                         int64_t now) {
    HealthRates r;
    window_days = std::max(window_days, 1);
    r.to_day = utc_day(now);
    r.from_day = utc_day(now - int64_t(window_days - 1) * kDay);
    // After a reinstatement, count from the next UTC day (see health.h).
    if (const int64_t reinstated = last_reinstatement(store, t, domain)) {
        const std::string after = utc_day(reinstated + kDay);
        if (after > r.from_day) {
            r.from_day = after;
            r.reinstated_at = reinstated;
        }
    }
    for (int i = window_days - 1; i >= 0; --i) {
        const std::string day = utc_day(now - int64_t(i) * kDay);
        if (day < r.from_day) continue;
        ++r.days;
        r.sent += store.stat(t, domain, day, stats::kSent);
        r.hard_bounces += store.stat(t, domain, day, stats::kBounceHard);
        r.soft_bounces += store.stat(t, domain, day, stats::kBounceSoft);
        r.complaints += store.stat(t, domain, day, stats::kComplaint);
    }
    if (r.sent > 0) {
        r.bounce_rate = static_cast<double>(r.hard_bounces) / static_cast<double>(r.sent);
        r.complaint_rate = static_cast<double>(r.complaints) / static_cast<double>(r.sent);
    }
    return r;
}

HealthVerdict health_verdict(const Config& cfg, const Domain& d, const HealthRates& rates) {
    HealthVerdict v;
    v.rates = rates;
    v.shared = d.shared;
    v.thresholds = d.shared ? &cfg.health.shared : &cfg.health.own;
    v.min_volume = cfg.health.min_volume;
    v.below_min_volume = rates.sent < cfg.health.min_volume;
    if (v.below_min_volume) {
        v.reason = std::to_string(rates.sent) + " recipients " + window_text(rates) + ", fewer than " +
                   std::to_string(cfg.health.min_volume) + " (health.min_volume)";
        return v;
    }
    const HealthThresholds& th = *v.thresholds;
    v.bounce = level_of(rates.bounce_rate, th.bounce_warn, th.bounce_suspend);
    v.complaint = level_of(rates.complaint_rate, th.complaint_warn, th.complaint_suspend);
    v.reason = reason_text(v, HealthLevel::warn);
    return v;
}

HealthVerdict apply_health(Store& store, const Config& cfg, const std::string& name, int64_t now) {
    auto judge = [&](const Domain& d) {
        auto ct = store.read_counters();
        return health_verdict(cfg, d, health_rates(store, ct, d.name, cfg.health.window_days, now));
    };
    auto must_suspend = [](const std::optional<Domain>& d, const HealthVerdict& v) {
        return d && !d->deleted && d->status != DomainStatus::suspended && !v.below_min_volume &&
               v.level() == HealthLevel::suspend;
    };
    std::optional<Domain> d;
    {
        auto t = store.read();
        d = store.domain(t, name);
    }
    Domain unknown;
    unknown.name = name;
    HealthVerdict v = judge(d ? *d : unknown);
    if (!must_suspend(d, v)) return v;

    // Decide again under the write lock: another ingest may have suspended
    // it, or the administrator reinstated it (whose event is committed
    // before the domain is, so these rates see it).
    auto t = store.write();
    d = store.domain(t, name);
    if (!d) return v;
    v = judge(*d);
    if (!must_suspend(d, v)) return v;
    const std::string reason = reason_text(v, HealthLevel::suspend);
    d->status = DomainStatus::suspended;
    d->suspended_reason = smtp_safe(reason);
    d->status_changed_at = now;
    store.put(t, *d);
    t.commit();
    log_warning(LogLine("health").kv("domain", name).kv("action", "suspended").kv("reason", reason).str());
    auto ct = store.write_counters();
    store.add_event(ct, name,
                    {{"type", "domain.suspended"}, {"by", "health"}, {"reason", reason}, {"at", now}});
    ct.commit();
    return v;
}

nlohmann::json health_json(const HealthVerdict& v) {
    const HealthRates& r = v.rates;
    const HealthThresholds& th = *v.thresholds;
    nlohmann::json j = {
        {"from", r.from_day},
        {"to", r.to_day},
        {"days", r.days},
        {"sent", r.sent},
        {"hard_bounces", r.hard_bounces},
        {"soft_bounces", r.soft_bounces},
        {"complaints", r.complaints},
        {"bounce_rate", r.bounce_rate},
        {"complaint_rate", r.complaint_rate},
        {"bounce", to_string(v.bounce)},
        {"complaint", to_string(v.complaint)},
        {"level", v.below_min_volume ? "below_min_volume" : to_string(v.level())},
        {"min_volume", v.min_volume},
        {"thresholds",
         {{"kind", v.shared ? "shared" : "own"},
          {"bounce_warn", th.bounce_warn},
          {"bounce_suspend", th.bounce_suspend},
          {"complaint_warn", th.complaint_warn},
          {"complaint_suspend", th.complaint_suspend}}},
        {"reason", v.reason},
    };
    if (r.reinstated_at) j["reinstated_at"] = r.reinstated_at;
    return j;
}

}  // namespace outpost
