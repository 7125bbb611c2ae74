// warmup.h - the per-domain daily recipient limit (DESIGN.md step 3), and
// the accounting of what was sent.
//
// End of headers: a domain whose allowance for today is used up is refused
// before the body (452 4.7.1 WARMUP_LIMIT_EXCEEDED). End of message: the
// message's recipients (those left after suppression) are reserved in ONE
// write transaction of the counters environment: read today's count, refuse
// if count + n > limit, else write count + n (and the day's "sent" and
// "messages" statistics). LMDB runs one write transaction at a time across
// every thread and process, so the check and the write are atomic: with 50
// left, exactly 50 single-recipient messages pass however many arrive at
// once. The counters environment is MDB_NOSYNC (synced once a second by the
// daemon), so this costs no fsync. If a later stage fails, undo() gives the
// reservation back. Counter keys carry the UTC day, so the limit resets at
// 00:00 UTC. Sandbox mail is neither limited nor counted.
//
// The counters are soft state: if they cannot be read or written (map
// full at store.counters_max_size, disk full, a damaged environment), a
// domain without a limit keeps sending, with a log line and the milter's
// counters_errors count; a warmup-limited domain gets 451 4.3.0
// COUNTERS_UNAVAILABLE until they can.
#pragma once

#include <cstdint>
#include <exception>
#include <string>

#include "milter/stage.h"

namespace outpost::milter {

struct Reservation {
    bool ok = false;
    int64_t used = 0;  // today's count before this reservation
};

// `limit` < 0: no limit (the recipients are still counted).
Reservation reserve_recipients(Store& store, const std::string& domain, int64_t now, int64_t n,
                               int64_t limit);
void refund_recipients(Store& store, const std::string& domain, int64_t now, int64_t n);

class WarmupStage : public Stage {
public:
    const char* name() const override { return "warmup"; }
    StageResult end_of_headers(Message& m) override;
    StageResult end_of_message(Message& m) override;
    void undo(Message& m) noexcept override;

private:
    static StageResult counters_failed(Message& m, const std::exception& e);
};

}  // namespace outpost::milter
