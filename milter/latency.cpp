// latency.cpp - the end-of-message histogram.
#include "milter/latency.h"

#include <cmath>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

namespace outpost::milter {

double LatencyHistogram::upper_us(int i) {
    return std::pow(2.0, static_cast<double>(i + 1) / kPerOctave);
}

void LatencyHistogram::record(std::chrono::nanoseconds d) {
    const double us = static_cast<double>(d.count()) / 1000.0;
    int i = us <= 1.0 ? 0 : static_cast<int>(std::ceil(std::log2(us) * kPerOctave)) - 1;
    if (i < 0) i = 0;
    if (i >= kBuckets) i = kBuckets - 1;
    counts_[static_cast<size_t>(i)].fetch_add(1, std::memory_order_relaxed);
}

double LatencyHistogram::quantile_us(const std::array<uint64_t, kBuckets>& counts, double q) {
    uint64_t total = 0;
    for (uint64_t c : counts) total += c;
    if (total == 0) return 0;
    const double want = q * static_cast<double>(total);
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
        seen += counts[static_cast<size_t>(i)];
        if (static_cast<double>(seen) >= want) return upper_us(i);
    }
    return upper_us(kBuckets - 1);
}

std::string LatencyHistogram::snapshot_json(int64_t since_epoch) const {
    std::array<uint64_t, kBuckets> c{};
    uint64_t total = 0;
    for (int i = 0; i < kBuckets; ++i) total += c[static_cast<size_t>(i)] = counts_[static_cast<size_t>(i)].load(std::memory_order_relaxed);
    nlohmann::json j = {{"since", since_epoch},
                        {"count", total},
                        {"p50_ms", quantile_us(c, 0.50) / 1000.0},
                        {"p99_ms", quantile_us(c, 0.99) / 1000.0},
                        {"p999_ms", quantile_us(c, 0.999) / 1000.0},
                        {"counters_errors", counters_errors().load(std::memory_order_relaxed)},
                        {"reload_errors", reload_errors().load(std::memory_order_relaxed)}};
    nlohmann::json b = nlohmann::json::array();
    for (int i = 0; i < kBuckets; ++i)
        if (c[static_cast<size_t>(i)]) b.push_back({upper_us(i), c[static_cast<size_t>(i)]});
    j["buckets"] = b;
    return j.dump();
}

LatencyHistogram& eom_latency() {
    static LatencyHistogram h;
    return h;
}

std::atomic<uint64_t>& counters_errors() {
    static std::atomic<uint64_t> n{0};
    return n;
}

std::atomic<uint64_t>& reload_errors() {
    static std::atomic<uint64_t> n{0};
    return n;
}

void write_latency_file(const std::string& store_path, int64_t since_epoch) {
    const std::string path = store_path + "/counters/latency.json";
    const std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::trunc);
        if (!f) return;  // soft state: a missing snapshot costs nothing but the report
        f << eom_latency().snapshot_json(since_epoch) << '\n';
        if (!f) return;
    }
    std::rename(tmp.c_str(), path.c_str());
}

}  // namespace outpost::milter
