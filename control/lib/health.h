// health.h - a domain's bounce and complaint rates, the verdict against
// health.* thresholds, and the automatic suspension that follows from it.
//
// Rates come only from the daily stats in the counters environment
// (store/stats.h: bounce.hard, bounce.soft, complaint against sent, which
// counts recipients), summed over the last health.window_days UTC days,
// today included. Below health.min_volume recipients in the window nothing
// is warn or suspend. A level is reached strictly above its threshold:
// exactly 10% against "suspend above 10%" is only warn.
//
// Reinstatement: after `outpostctl domain reinstate`, the window starts the
// UTC day after the last domain.reinstated event (never before the usual
// window start). Stats are per day, so the bounces that caused the
// suspension cannot be told apart from later ones on the same day; counting
// from the next day means the old numbers cannot suspend the domain again,
// and the reinstated domain is judged on what it sends from then on (and,
// with less volume in the shorter window, min_volume protects it a while).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "config/config.h"
#include "store/model.h"
#include "store/store.h"

namespace outpost {

struct HealthRates {
    int64_t sent = 0, hard_bounces = 0, soft_bounces = 0, complaints = 0;
    double bounce_rate = 0, complaint_rate = 0;  // fractions (0.1 = 10%); 0 when sent is 0
    std::string from_day, to_day;                // YYYYMMDD (UTC), both included
    int days = 0;                                // days counted (0: reinstated today)
    int64_t reinstated_at = 0;                   // the reinstatement that shortened the window, else 0
};

enum class HealthLevel { ok, warn, suspend };
const char* to_string(HealthLevel l);

struct HealthVerdict {
    HealthRates rates;
    HealthLevel bounce = HealthLevel::ok, complaint = HealthLevel::ok;
    bool below_min_volume = false;
    int64_t min_volume = 0;
    const HealthThresholds* thresholds = nullptr;  // into the Config given to health_verdict
    bool shared = false;                           // thresholds are health.shared
    // What is over a threshold, worst first, e.g. "bounce rate 12.0% over
    // 7 days (1200 of 10000; suspend above 10.0%)"; "" when ok.
    std::string reason;

    HealthLevel level() const;  // the worse of bounce and complaint
};

// Sums the stats of `domain` over the window ending today (UTC day of
// `now`). `counters_txn` is a transaction on the counters environment.
HealthRates health_rates(const Store& store, const lmdb::Txn& counters_txn, const std::string& domain,
                         int window_days, int64_t now);

// Judges rates against cfg.health.own, or cfg.health.shared for a shared
// domain. The verdict points into `cfg`, which must outlive it.
HealthVerdict health_verdict(const Config& cfg, const Domain& d, const HealthRates& rates);

// For ingest, after it committed a bounce or complaint: if the domain's
// verdict is suspend (at or above min_volume) and the domain is neither
// suspended already nor removed, moves it to suspended and records
// {"type":"domain.suspended","by":"health","reason":...,"at":now, and the
// figures}. The status keeps an SMTP-safe copy of the reason ('%' written
// as " percent", printable ASCII, at most 200 characters): the milter
// quotes it in its 550 reply. Returns the verdict either way; nothing is
// written for a domain that is not in the store, removed or suspended.
// @note Takes its own transactions: call it with none open on this Store
// in this thread. The suspension is decided again inside the write
// transaction, so concurrent callers suspend once.
HealthVerdict apply_health(Store& store, const Config& cfg, const std::string& domain, int64_t now);

// The verdict as domain show --json and stats --json print it.
nlohmann::json health_json(const HealthVerdict& v);

// A rate as people read it: "12.0%", "0.05%" (two decimals at most).
std::string percent_text(double fraction);

}  // namespace outpost
