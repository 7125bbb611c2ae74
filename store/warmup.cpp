// warmup.cpp - the ramp.
#include "store/warmup.h"

#include "store/store.h"

namespace outpost {

int64_t warmup_day(const Domain& d, int64_t now) {
    if (d.verified_at <= 0 || now < d.verified_at) return 0;
    return now / 86400 - d.verified_at / 86400;
}

int64_t warmup_limit(const Domain& d, const Config& cfg, int64_t now) {
    const int64_t days = d.warmup_days >= 0 ? d.warmup_days : cfg.warmup.days;
    const int64_t cap = d.daily_cap >= 0 ? d.daily_cap : cfg.warmup.cap;
    const int64_t day = warmup_day(d, now);
    if (day >= days) return cap > 0 ? cap : -1;
    int64_t limit = cfg.warmup.first_day;
    for (int64_t i = 0; i < day && limit < (int64_t(1) << 50); ++i) limit *= 2;
    return cap > 0 ? std::min(limit, cap) : limit;
}

std::string warmup_counter_key(const std::string& domain, int64_t now) {
    return "warmup" + std::string(1, '\0') + domain + '\0' + utc_day(now);
}

}  // namespace outpost
