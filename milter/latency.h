// latency.h - the milter's end-of-message latency histogram.
//
// Every message's end-of-message step (the stages' end_of_message: the
// signature, the body rewrite, the edits sent to the MTA) is timed and
// counted in one of 4 buckets per doubling of time, from 1 us to about
// 17 s, with relaxed atomic counters (no lock on the message path). The
// milter's sync thread writes a snapshot every 10 s, and at exit, to
// <store.path>/counters/latency.json, which `outpostctl stats --milter`
// reads: message count, p50, p99 and p99.9 since the milter started.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace outpost::milter {

class LatencyHistogram {
public:
    static constexpr int kPerOctave = 4;
    static constexpr int kBuckets = 24 * kPerOctave + 1;  // the last: longer than 2^24 us

    void record(std::chrono::nanoseconds d);
    // {"since": epoch s, "count": N, "p50_ms", "p99_ms", "p999_ms", "buckets": [[upper_us, n], ...]}
    std::string snapshot_json(int64_t since_epoch) const;
    // The upper bound, in microseconds, of bucket i.
    static double upper_us(int i);
    // The latency below which `q` (0..1) of the counts fall (a bucket's upper bound).
    static double quantile_us(const std::array<uint64_t, kBuckets>& counts, double q);

private:
    std::array<std::atomic<uint64_t>, kBuckets> counts_{};
};

// The process's histogram.
LatencyHistogram& eom_latency();

// Writes of the counters environment (warmup counts, stats) that failed
// since the milter started: the mail went on (unlimited domain) or got a
// 451 (warmup-limited). In the snapshot as "counters_errors".
std::atomic<uint64_t>& counters_errors();

// Reloads (SIGHUP) refused since the milter started: the configuration or
// what it names (store, keys, tracking secrets) could not be loaded, and the
// old generation kept serving. In the snapshot as "reload_errors".
std::atomic<uint64_t>& reload_errors();

// Writes the snapshot next to the counters (atomically: temp file, rename).
void write_latency_file(const std::string& store_path, int64_t since_epoch);

}  // namespace outpost::milter
