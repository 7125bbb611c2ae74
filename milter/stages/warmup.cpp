// warmup.cpp - check at end of headers, exact reservation at end of message.
#include "milter/stages/warmup.h"

#include "milter/latency.h"
#include "base/log.h"
#include "store/warmup.h"

namespace outpost::milter {
namespace {

StageResult exceeded(const std::string& domain, int64_t limit, int64_t used) {
    return StageResult::refuse("452", "4.7.1", "WARMUP_LIMIT_EXCEEDED",
                               domain + " may send to " + std::to_string(limit) + " recipients today (" +
                                   std::to_string(used) + " used); the limit resets 00:00 UTC");
}

}  // namespace

Reservation reserve_recipients(Store& store, const std::string& domain, int64_t now, int64_t n,
                               int64_t limit) {
    const std::string key = warmup_counter_key(domain, now);
    const std::string day = utc_day(now);
    Reservation r;
    store.update_counters([&](lmdb::WriteTxn& t) {
        r.used = store.counter(t, key);
        if (limit >= 0 && r.used + n > limit) return false;
        store.set_counter(t, key, r.used + n);
        store.add_stat(t, domain, day, "sent", n);
        store.add_stat(t, domain, day, "messages", 1);
        r.ok = true;
        return true;
    });
    return r;
}

void refund_recipients(Store& store, const std::string& domain, int64_t now, int64_t n) {
    const std::string key = warmup_counter_key(domain, now);
    const std::string day = utc_day(now);
    store.update_counters([&](lmdb::WriteTxn& t) {
        const int64_t used = store.counter(t, key);
        store.set_counter(t, key, used > n ? used - n : 0);
        store.add_stat(t, domain, day, "sent", -n);
        store.add_stat(t, domain, day, "messages", -1);
        return true;
    });
}

// Counters are soft state (store.h): when they cannot be read or written,
// a domain without a limit keeps sending (log line, counters_errors) and a
// warmup-limited one is refused for now (451), never sent past its limit.
StageResult WarmupStage::end_of_headers(Message& m) {
    Transaction& t = m.txn;
    if (t.sandbox || !t.domain) return StageResult::next();
    t.warmup_limit = warmup_limit(*t.domain, m.config(), m.now);
    if (t.warmup_limit < 0) return StageResult::next();
    int64_t used = 0;
    try {
        auto c = m.rt.store->read_counters();
        used = m.rt.store->counter(c, warmup_counter_key(t.domain->name, m.now));
    } catch (const std::exception& e) {
        return counters_failed(m, e);
    }
    if (used >= t.warmup_limit) return exceeded(t.domain->name, t.warmup_limit, used);
    return StageResult::next();
}

StageResult WarmupStage::end_of_message(Message& m) {
    Transaction& t = m.txn;
    if (t.sandbox || !t.domain || t.delivered() == 0) return StageResult::next();
    const int64_t n = static_cast<int64_t>(t.delivered());
    Reservation r;
    try {
        r = reserve_recipients(*m.rt.store, t.domain->name, m.now, n, t.warmup_limit);
    } catch (const std::exception& e) {
        return counters_failed(m, e);
    }
    if (!r.ok) return exceeded(t.domain->name, t.warmup_limit, r.used);
    t.reserved = n;
    return StageResult::next();
}

StageResult WarmupStage::counters_failed(Message& m, const std::exception& e) {
    Transaction& t = m.txn;
    counters_errors().fetch_add(1, std::memory_order_relaxed);
    const bool limited = t.warmup_limit >= 0;
    log_warning((t.queue_id.empty() ? std::string("NOQUEUE") : t.queue_id) + ": stage=warmup domain=" +
                t.domain->name + " counters error=" + log_value(e.what()) +
                (limited ? " action=tempfail" : " action=continue"));
    if (!limited) return StageResult::next();
    return StageResult::refuse("451", "4.3.0", "COUNTERS_UNAVAILABLE",
                               t.domain->name + " is warming up and its sending count cannot be kept "
                                                "right now; try again later");
}

void WarmupStage::undo(Message& m) noexcept {
    Transaction& t = m.txn;
    if (t.reserved <= 0 || !t.domain) return;
    try {
        refund_recipients(*m.rt.store, t.domain->name, m.now, t.reserved);
        t.reserved = 0;
    } catch (const std::exception& e) {
        log_error((t.queue_id.empty() ? std::string("NOQUEUE") : t.queue_id) +
                  ": stage=warmup event=refund error=" + log_value(e.what()));
    }
}

}  // namespace outpost::milter
