// warmup.h - the per-domain daily sending limit (DESIGN.md, pipeline step 3).
#pragma once

#include <cstdint>
#include <string>

#include "config/config.h"
#include "store/model.h"

namespace outpost {

// Day index of the ramp: whole UTC days since the domain was first verified
// (0 on the day of verification, and for a domain never verified).
int64_t warmup_day(const Domain& d, int64_t now);

// Recipients allowed today: min(first_day * 2^day, cap) during warmup, then
// cap; -1 means no limit. Per-domain warmup_days / daily_cap override the
// config when set (>= 0).
int64_t warmup_limit(const Domain& d, const Config& cfg, int64_t now);

// Key of today's recipient counter in the counters table.
std::string warmup_counter_key(const std::string& domain, int64_t now);

}  // namespace outpost
