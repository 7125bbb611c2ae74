// ctl_stats.cpp - `outpostctl stats [DOMAIN] [--days N] [--json]`.
//
// Sums the per-domain, per-UTC-day stats (store/stats.h) over the last N
// days, today included, and shows them with rates against the recipients
// sent to. Unique opens and clicks count only messages sent to one
// recipient (the links were per-recipient); with several recipients in one
// transaction, tracking is per message. Bounce and complaint rates here are
// over --days; the health line is the verdict over health.window_days
// (control/lib/health.h), which is what suspends a domain.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>

#include "control/ctl.h"
#include "control/lib/health.h"
#include "store/stats.h"

namespace outpost::ctl {
namespace {

using Metrics = std::map<std::string, int64_t>;

int64_t get(const Metrics& m, const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? 0 : it->second;
}

std::string rate(int64_t n, int64_t of) {
    if (of <= 0) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * static_cast<double>(n) / static_cast<double>(of));
    return buf;
}

double ratio(int64_t n, int64_t of) {
    return of > 0 ? static_cast<double>(n) / static_cast<double>(of) : 0.0;
}

struct DomainStats {
    std::string domain;
    std::vector<std::pair<std::string, Metrics>> days;  // oldest first
    Metrics total;
    HealthVerdict health;
};

DomainStats collect(Store& store, const Config& cfg, const lmdb::ReadTxn& t, const Domain& d, int days,
                    int64_t now) {
    const std::string& domain = d.name;
    DomainStats s;
    s.domain = domain;
    s.health = health_verdict(cfg, d, health_rates(store, t, domain, cfg.health.window_days, now));
    for (int i = days - 1; i >= 0; --i) {
        const std::string day = utc_day(now - int64_t(i) * 86400);
        Metrics m;
        for (auto& [k, v] : store.day_stats(t, domain, day)) {
            m[k] += v;
            s.total[k] += v;
        }
        s.days.emplace_back(day, std::move(m));
    }
    return s;
}

nlohmann::json to_json(const DomainStats& s) {
    const Metrics& m = s.total;
    const int64_t sent = get(m, stats::kSent);
    const int64_t unsub = get(m, stats::kUnsubscribeOneClick) + get(m, stats::kUnsubscribePage) +
                          get(m, stats::kUnsubscribeMailto);
    nlohmann::json j;
    j["domain"] = s.domain;
    j["from"] = s.days.front().first;
    j["to"] = s.days.back().first;
    j["totals"] = nlohmann::json(m);
    j["rates"] = {{"open_unique", ratio(get(m, stats::kOpenUnique), sent)},
                  {"click_unique", ratio(get(m, stats::kClickUnique), sent)},
                  {"unsubscribe", ratio(unsub, sent)},
                  {"bounce", ratio(get(m, stats::kBounceHard), sent)},
                  {"complaint", ratio(get(m, stats::kComplaint), sent)}};
    j["bounces"] = {{"hard", get(m, stats::kBounceHard)},
                    {"soft", get(m, stats::kBounceSoft)},
                    {"rate", ratio(get(m, stats::kBounceHard), sent)}};
    j["complaints"] = {{"count", get(m, stats::kComplaint)},
                       {"rate", ratio(get(m, stats::kComplaint), sent)}};
    j["suppressed"] = {{"bounce", get(m, stats::kSuppressedBounce)},
                       {"complaint", get(m, stats::kSuppressedComplaint)}};
    j["health"] = health_json(s.health);
    nlohmann::json days = nlohmann::json::array();
    for (const auto& [day, dm] : s.days)
        if (!dm.empty()) days.push_back({{"day", day}, {"metrics", nlohmann::json(dm)}});
    j["days"] = days;
    return j;
}

void print(const DomainStats& s) {
    const Metrics& m = s.total;
    const int64_t sent = get(m, stats::kSent);
    std::printf("%s  %s .. %s (UTC)\n", s.domain.c_str(), day_text(s.days.front().first).c_str(),
                day_text(s.days.back().first).c_str());
    std::printf("  sent           %lld messages, %lld recipients\n",
                static_cast<long long>(get(m, stats::kMessages)), static_cast<long long>(sent));
    int64_t rejected = 0;
    std::string reasons;
    for (const auto& [k, v] : m)
        if (k.rfind("rejected.", 0) == 0 && v != 0) {
            rejected += v;
            reasons += (reasons.empty() ? "" : ", ") + k.substr(9) + " " + std::to_string(v);
        }
    std::printf("  rejected       %lld%s\n", static_cast<long long>(rejected),
                reasons.empty() ? "" : (" (" + reasons + ")").c_str());
    std::printf(
        "  opens          %lld human (%lld unique, %s), %lld machine\n",
        static_cast<long long>(get(m, stats::kOpenHuman)), static_cast<long long>(get(m, stats::kOpenUnique)),
        rate(get(m, stats::kOpenUnique), sent).c_str(), static_cast<long long>(get(m, stats::kOpenMachine)));
    std::printf("  clicks         %lld human (%lld unique, %s), %lld machine\n",
                static_cast<long long>(get(m, stats::kClickHuman)),
                static_cast<long long>(get(m, stats::kClickUnique)),
                rate(get(m, stats::kClickUnique), sent).c_str(),
                static_cast<long long>(get(m, stats::kClickMachine)));
    const int64_t oc = get(m, stats::kUnsubscribeOneClick), pg = get(m, stats::kUnsubscribePage),
                  mt = get(m, stats::kUnsubscribeMailto);
    std::printf("  unsubscribes   %lld (%s; one-click %lld, page %lld, mailto %lld)\n",
                static_cast<long long>(oc + pg + mt), rate(oc + pg + mt, sent).c_str(),
                static_cast<long long>(oc), static_cast<long long>(pg), static_cast<long long>(mt));
    std::printf("  tracked        %lld messages rewritten, %lld untracked (over tracking.max_bytes)\n",
                static_cast<long long>(get(m, stats::kTracked)),
                static_cast<long long>(get(m, stats::kUntrackedTooLarge)));
    const int64_t hard = get(m, stats::kBounceHard), complaints = get(m, stats::kComplaint);
    std::printf("  bounces        %lld hard (%s), %lld soft\n", static_cast<long long>(hard),
                sent > 0 ? percent_text(ratio(hard, sent)).c_str() : "-",
                static_cast<long long>(get(m, stats::kBounceSoft)));
    std::printf("  complaints     %lld (%s)\n", static_cast<long long>(complaints),
                sent > 0 ? percent_text(ratio(complaints, sent)).c_str() : "-");
    std::printf("  suppressed     %lld for bounces, %lld for complaints\n",
                static_cast<long long>(get(m, stats::kSuppressedBounce)),
                static_cast<long long>(get(m, stats::kSuppressedComplaint)));
    const HealthVerdict& h = s.health;
    std::printf("  health         %s%s%s\n", h.below_min_volume ? "below min volume" : to_string(h.level()),
                h.reason.empty() ? "" : ": ", h.reason.c_str());
}

// The snapshot outpost-milter writes every 10 s (milter/latency.h).
void print_milter_latency(Context& ctx) {
    const std::string path = ctx.config().store.path + "/counters/latency.json";
    std::ifstream f(path);
    if (!f)
        throw Error(Exit::not_found, "NO_MILTER_FIGURES",
                    path + " does not exist: outpost-milter writes it every 10 s while it runs; start it "
                           "(systemctl start outpost-milter), or check store.path in the configuration");
    nlohmann::json j;
    try {
        f >> j;
    } catch (const std::exception& e) {
        throw Error(Exit::environment, "NO_MILTER_FIGURES", path + " cannot be read: " + e.what());
    }
    if (ctx.json) {
        std::cout << j.dump(2) << '\n';
        return;
    }
    std::printf("outpost-milter since %s: %llu messages, end of message p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms\n",
                format_time(j.value("since", int64_t(0))).c_str(),
                static_cast<unsigned long long>(j.value("count", uint64_t(0))), j.value("p50_ms", 0.0),
                j.value("p99_ms", 0.0), j.value("p999_ms", 0.0));
    if (const auto e = j.value("counters_errors", uint64_t(0)))
        std::printf("counters writes failed: %llu (see the milter's log: counters error=...)\n",
                    static_cast<unsigned long long>(e));
    if (const auto e = j.value("reload_errors", uint64_t(0)))
        std::printf("reloads refused: %llu (see the milter's log: SIGHUP: configuration not reloaded)\n",
                    static_cast<unsigned long long>(e));
}

}  // namespace

void register_stats_commands(CLI::App& app, Context& ctx) {
    auto* c = app.add_subcommand("stats", "sent, refused, opens, clicks, unsubscribes per domain");
    static std::string domain;
    static int days = 7;
    c->add_option("domain", domain, "one domain (default: every domain)");
    c->add_option("--days", days, "days to sum, today included (UTC)")->check(CLI::Range(1, 400));
    c->add_flag("--json", ctx.json, "JSON output");
    static bool milter = false;
    c->add_flag("--milter", milter,
                "outpost-milter's end-of-message latency since it started (p50, p99, p99.9)");
    c->callback([&ctx] {
        if (milter) return print_milter_latency(ctx);
        Admin& a = ctx.admin();
        std::vector<Domain> names;
        if (!domain.empty())
            names.push_back(a.domain(domain));
        else
            names = a.domains(false);
        const int64_t now = now_seconds();
        auto t = a.store().read_counters();
        nlohmann::json out = nlohmann::json::array();
        for (size_t i = 0; i < names.size(); ++i) {
            DomainStats s = collect(a.store(), a.config(), t, names[i], days, now);
            if (ctx.json) {
                out.push_back(to_json(s));
            } else {
                if (i) std::printf("\n");
                print(s);
            }
        }
        if (ctx.json) std::cout << (domain.empty() ? out : out.front()).dump(2) << '\n';
    });
}

}  // namespace outpost::ctl
