// warmup.cpp - check at end of headers, exact reservation at end of message.
#include "milter/stages/warmup.h"

#include "store/log.h"
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
    auto t = store.write_counters();
    Reservation r;
    r.used = store.counter(t, key);
    if (limit >= 0 && r.used + n > limit) return r;  // aborted by the destructor
    store.set_counter(t, key, r.used + n);
    store.add_stat(t, domain, day, "sent", n);
    store.add_stat(t, domain, day, "messages", 1);
    t.commit();
    r.ok = true;
    return r;
}

void refund_recipients(Store& store, const std::string& domain, int64_t now, int64_t n) {
    const std::string key = warmup_counter_key(domain, now);
    const std::string day = utc_day(now);
    auto t = store.write_counters();
    const int64_t used = store.counter(t, key);
    store.set_counter(t, key, used > n ? used - n : 0);
    store.add_stat(t, domain, day, "sent", -n);
    store.add_stat(t, domain, day, "messages", -1);
    t.commit();
}

StageResult WarmupStage::end_of_headers(Message& m) {
    Transaction& t = m.txn;
    if (t.sandbox || !t.domain) return StageResult::next();
    t.warmup_limit = warmup_limit(*t.domain, m.config(), m.now);
    if (t.warmup_limit < 0) return StageResult::next();
    auto c = m.rt.store->read_counters();
    const int64_t used = m.rt.store->counter(c, warmup_counter_key(t.domain->name, m.now));
    if (used >= t.warmup_limit) return exceeded(t.domain->name, t.warmup_limit, used);
    return StageResult::next();
}

StageResult WarmupStage::end_of_message(Message& m) {
    Transaction& t = m.txn;
    if (t.sandbox || !t.domain || t.delivered() == 0) return StageResult::next();
    const int64_t n = static_cast<int64_t>(t.delivered());
    Reservation r = reserve_recipients(*m.rt.store, t.domain->name, m.now, n, t.warmup_limit);
    if (!r.ok) return exceeded(t.domain->name, t.warmup_limit, r.used);
    t.reserved = n;
    return StageResult::next();
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
