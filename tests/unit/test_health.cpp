// test_health.cpp - bounce and complaint rates, verdicts, automatic
// suspension and the reinstatement rule (control/lib/health), and what
// outpostctl shows of them: `events`, the health block of `domain show`,
// the bounce and complaint lines of `stats`.
#define BOOST_TEST_MODULE health
#include <pwd.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "control/lib/admin.h"
#include "control/lib/health.h"
#include "store/stats.h"
#include "testutil.h"

namespace outpost {
// For Boost.Test's messages.
std::ostream& operator<<(std::ostream& o, HealthLevel l) {
    return o << to_string(l);
}
std::ostream& operator<<(std::ostream& o, DomainStatus s) {
    return o << to_string(s);
}
}  // namespace outpost

using namespace outpost;
using nlohmann::json;
namespace tt = boost::test_tools;

namespace {

constexpr int64_t kDay = 86400;

struct Fixture {
    test::TempDir dir;
    std::string config_path;
    Config cfg;
    std::unique_ptr<Admin> admin;
    int64_t now = now_seconds();

    Fixture() {
        config_path = test::write_config(dir.path);
        cfg = load_config_file(config_path);
        admin = std::make_unique<Admin>(cfg);
    }
    Store& store() { return admin->store(); }

    Domain add_verified(const std::string& name, bool shared = false) {
        AddDomainOptions o;
        o.shared = shared;
        Domain d = admin->add_domain(name, o);
        d.status = DomainStatus::verified;
        d.verified_at = now;
        for (auto& s : d.selectors) s.state = SelectorState::active;
        admin->save_domain(d);
        return d;
    }
    void add_stat(const std::string& domain, int64_t at, const char* metric, int64_t n) {
        auto t = store().write_counters();
        store().add_stat(t, domain, utc_day(at), metric, n);
        t.commit();
    }
    void add_event(const std::string& domain, const json& e) {
        auto t = store().write_counters();
        store().add_event(t, domain, e);
        t.commit();
    }
    HealthRates rates(const std::string& domain, int64_t at) {
        auto t = store().read_counters();
        return health_rates(store(), t, domain, cfg.health.window_days, at);
    }
    Domain domain(const std::string& name) {
        auto t = store().read();
        return *store().domain(t, name);
    }
    std::vector<json> events_of(const std::string& domain, const std::string& type) {
        auto t = store().read_counters();
        std::vector<json> out;
        for (auto& e : store().events(t, domain))
            if (e.value("type", "") == type) out.push_back(e);
        return out;
    }
    test::Run ctl(std::vector<std::string> args) const {
        args.insert(args.begin(), {OUTPOSTCTL, "--config", config_path});
        return test::run(args);
    }
};

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

std::string day_of(int64_t t) {
    const std::string d = utc_day(t);
    return d.substr(0, 4) + "-" + d.substr(4, 2) + "-" + d.substr(6, 2);
}

std::string iso(int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string user_name() {
    const passwd* pw = ::getpwuid(::geteuid());
    return pw ? pw->pw_name : "uid:" + std::to_string(::geteuid());
}

}  // namespace

BOOST_AUTO_TEST_CASE(rates_sum_only_the_window) {
    Fixture f;
    f.add_verified("example.com");
    // Window 7 days, today included: today and 6 days ago count, 7 days ago
    // and tomorrow do not.
    f.add_stat("example.com", f.now, stats::kSent, 1000);
    f.add_stat("example.com", f.now, stats::kBounceHard, 50);
    f.add_stat("example.com", f.now, stats::kBounceSoft, 9);
    f.add_stat("example.com", f.now - 6 * kDay, stats::kSent, 1000);
    f.add_stat("example.com", f.now - 6 * kDay, stats::kBounceHard, 30);
    f.add_stat("example.com", f.now - 6 * kDay, stats::kComplaint, 4);
    f.add_stat("example.com", f.now - 7 * kDay, stats::kSent, 100000);
    f.add_stat("example.com", f.now - 7 * kDay, stats::kBounceHard, 90000);
    f.add_stat("example.com", f.now + kDay, stats::kComplaint, 500);
    f.add_stat("other.example", f.now, stats::kBounceHard, 700);  // another domain

    HealthRates r = f.rates("example.com", f.now);
    BOOST_TEST(r.sent == 2000);
    BOOST_TEST(r.hard_bounces == 80);
    BOOST_TEST(r.soft_bounces == 9);
    BOOST_TEST(r.complaints == 4);
    BOOST_TEST(r.bounce_rate == 0.04, tt::tolerance(1e-12));
    BOOST_TEST(r.complaint_rate == 0.002, tt::tolerance(1e-12));
    BOOST_TEST(r.from_day == utc_day(f.now - 6 * kDay));
    BOOST_TEST(r.to_day == utc_day(f.now));
    BOOST_TEST(r.days == 7);
    BOOST_TEST(r.reinstated_at == 0);

    // A one-day window sees today only.
    auto t = f.store().read_counters();
    HealthRates one = health_rates(f.store(), t, "example.com", 1, f.now);
    BOOST_TEST(one.sent == 1000);
    BOOST_TEST(one.hard_bounces == 50);
    BOOST_TEST(one.complaints == 0);
    // No sends: rates are 0, not NaN.
    HealthRates none = health_rates(f.store(), t, "other.example", 7, f.now);
    BOOST_TEST(none.hard_bounces == 700);
    BOOST_TEST(none.bounce_rate == 0.0);
}

BOOST_AUTO_TEST_CASE(below_min_volume_is_never_warn_or_suspend) {
    Fixture f;
    Domain d = f.add_verified("example.com");
    BOOST_REQUIRE(f.cfg.health.min_volume == 200);
    HealthRates r;
    r.sent = 199;
    r.hard_bounces = 199;
    r.complaints = 199;
    r.bounce_rate = r.complaint_rate = 1.0;
    r.days = 7;
    HealthVerdict v = health_verdict(f.cfg, d, r);
    BOOST_TEST(v.below_min_volume);
    BOOST_TEST(v.bounce == HealthLevel::ok);
    BOOST_TEST(v.complaint == HealthLevel::ok);
    BOOST_TEST(v.level() == HealthLevel::ok);
    BOOST_TEST(has(v.reason, "199 recipients"));
    // At min_volume it counts.
    r.sent = 200;
    v = health_verdict(f.cfg, d, r);
    BOOST_TEST(!v.below_min_volume);
    BOOST_TEST(v.bounce == HealthLevel::suspend);
    BOOST_TEST(v.complaint == HealthLevel::suspend);
    // And apply_health leaves a low-volume domain alone, whatever its rate.
    f.add_stat("example.com", f.now, stats::kSent, 150);
    f.add_stat("example.com", f.now, stats::kBounceHard, 150);
    v = apply_health(f.store(), f.cfg, "example.com", f.now);
    BOOST_TEST(v.below_min_volume);
    BOOST_TEST(f.domain("example.com").status == DomainStatus::verified);
}

BOOST_AUTO_TEST_CASE(own_and_shared_thresholds_strictly_above) {
    Fixture f;
    Domain own = f.add_verified("own.example");
    Domain shared = f.add_verified("shared.example", true);
    // Defaults: own bounce 5/10 %, complaint 0.1/0.5 %; shared bounce 2/4 %,
    // complaint 0.05/0.1 %. Counts of 10000 recipients.
    struct Case {
        const char* label;
        bool shared;
        int64_t bounces, complaints;
        HealthLevel bounce, complaint;
    };
    const Case cases[] = {
        {"own: nothing", false, 0, 0, HealthLevel::ok, HealthLevel::ok},
        {"own: exactly warn", false, 500, 10, HealthLevel::ok, HealthLevel::ok},
        {"own: just above warn", false, 501, 11, HealthLevel::warn, HealthLevel::warn},
        {"own: exactly suspend", false, 1000, 50, HealthLevel::warn, HealthLevel::warn},
        {"own: just above suspend", false, 1001, 51, HealthLevel::suspend, HealthLevel::suspend},
        {"own: shared's suspend is own's ok", false, 401, 10, HealthLevel::ok, HealthLevel::ok},
        {"shared: exactly warn", true, 200, 5, HealthLevel::ok, HealthLevel::ok},
        {"shared: just above warn", true, 201, 6, HealthLevel::warn, HealthLevel::warn},
        {"shared: exactly suspend", true, 400, 10, HealthLevel::warn, HealthLevel::warn},
        {"shared: just above suspend", true, 401, 11, HealthLevel::suspend, HealthLevel::suspend},
        {"shared: bounce only", true, 600, 0, HealthLevel::suspend, HealthLevel::ok},
    };
    for (const auto& c : cases) BOOST_TEST_CONTEXT(c.label) {
            HealthRates r;
            r.sent = 10000;
            r.hard_bounces = c.bounces;
            r.complaints = c.complaints;
            r.bounce_rate = static_cast<double>(c.bounces) / 10000.0;
            r.complaint_rate = static_cast<double>(c.complaints) / 10000.0;
            r.days = 7;
            HealthVerdict v = health_verdict(f.cfg, c.shared ? shared : own, r);
            BOOST_TEST(v.shared == c.shared);
            BOOST_TEST(v.thresholds == (c.shared ? &f.cfg.health.shared : &f.cfg.health.own));
            BOOST_TEST(!v.below_min_volume);
            BOOST_TEST(v.bounce == c.bounce);
            BOOST_TEST(v.complaint == c.complaint);
            BOOST_TEST(v.reason.empty() == (v.level() == HealthLevel::ok));
        }
    // The reason names the rate, the window, the counts and the threshold,
    // the worst first.
    HealthRates r;
    r.sent = 10000;
    r.hard_bounces = 1200;
    r.complaints = 20;
    r.bounce_rate = 0.12;
    r.complaint_rate = 0.002;
    r.days = 7;
    HealthVerdict v = health_verdict(f.cfg, own, r);
    BOOST_TEST(v.reason ==
               "bounce rate 12.0% over 7 days (1200 of 10000; suspend above 10.0%); "
               "complaint rate 0.2% over 7 days (20 of 10000; warn above 0.1%)");
    BOOST_TEST(percent_text(0.0005) == "0.05%");
    BOOST_TEST(percent_text(0.1) == "10.0%");
}

BOOST_AUTO_TEST_CASE(apply_health_suspends_once_with_reason_and_event) {
    Fixture f;
    f.add_verified("example.com");
    f.add_stat("example.com", f.now, stats::kSent, 1000);
    f.add_stat("example.com", f.now, stats::kBounceHard, 60);  // 6%: warn only
    HealthVerdict v = apply_health(f.store(), f.cfg, "example.com", f.now);
    BOOST_TEST(v.level() == HealthLevel::warn);
    BOOST_TEST(f.domain("example.com").status == DomainStatus::verified);
    BOOST_TEST(f.events_of("example.com", "domain.suspended").empty());

    f.add_stat("example.com", f.now, stats::kBounceHard, 90);  // 15%
    v = apply_health(f.store(), f.cfg, "example.com", f.now);
    BOOST_TEST(v.bounce == HealthLevel::suspend);
    Domain d = f.domain("example.com");
    BOOST_TEST(d.status == DomainStatus::suspended);
    BOOST_TEST(d.status_changed_at == f.now);
    // SMTP-safe: the milter's reply drops '%'.
    BOOST_TEST(d.suspended_reason ==
               "bounce rate 15.0 percent over 7 days (150 of 1000; suspend above 10.0 percent)");
    BOOST_TEST(d.suspended_reason.find('%') == std::string::npos);
    auto ev = f.events_of("example.com", "domain.suspended");
    BOOST_REQUIRE(ev.size() == 1u);
    BOOST_TEST(ev[0]["by"] == "health");
    BOOST_TEST(ev[0]["at"] == f.now);
    BOOST_TEST(ev[0]["reason"] == "bounce rate 15.0% over 7 days (150 of 1000; suspend above 10.0%)");

    // More reports: still suspended once, with the first reason.
    f.add_stat("example.com", f.now, stats::kComplaint, 100);
    v = apply_health(f.store(), f.cfg, "example.com", f.now + 60);
    BOOST_TEST(v.level() == HealthLevel::suspend);
    BOOST_TEST(f.events_of("example.com", "domain.suspended").size() == 1u);
    BOOST_TEST(f.domain("example.com").status_changed_at == f.now);

    // A domain the administrator suspended keeps the administrator's reason.
    f.add_verified("manual.example");
    f.admin->suspend_domain("manual.example", "abuse desk");
    f.add_stat("manual.example", f.now, stats::kSent, 1000);
    f.add_stat("manual.example", f.now, stats::kBounceHard, 500);
    apply_health(f.store(), f.cfg, "manual.example", f.now);
    BOOST_TEST(f.domain("manual.example").suspended_reason == "abuse desk");
    ev = f.events_of("manual.example", "domain.suspended");
    BOOST_REQUIRE(ev.size() == 1u);
    BOOST_TEST(ev[0]["by"] == user_name());

    // A name not in the store: a verdict, nothing written.
    f.add_stat("ghost.example", f.now, stats::kSent, 1000);
    f.add_stat("ghost.example", f.now, stats::kBounceHard, 500);
    v = apply_health(f.store(), f.cfg, "ghost.example", f.now);
    BOOST_TEST(v.level() == HealthLevel::suspend);
    auto t = f.store().read();
    BOOST_TEST(!f.store().domain(t, "ghost.example").has_value());
    BOOST_TEST(f.events_of("ghost.example", "domain.suspended").empty());
}

BOOST_AUTO_TEST_CASE(apply_health_leaves_a_removed_domain_alone) {
    Fixture f;
    f.add_verified("example.com");
    f.add_stat("example.com", f.now, stats::kSent, 1000);
    f.add_stat("example.com", f.now, stats::kComplaint, 100);
    f.admin->remove_domain("example.com");
    HealthVerdict v = apply_health(f.store(), f.cfg, "example.com", f.now);
    BOOST_TEST(v.complaint == HealthLevel::suspend);
    Domain d = f.domain("example.com");
    BOOST_TEST(d.deleted);
    BOOST_TEST(d.status == DomainStatus::verified);
    BOOST_TEST(d.suspended_reason.empty());
    BOOST_TEST(f.events_of("example.com", "domain.suspended").empty());
    BOOST_TEST(f.events_of("example.com", "domain.removed").size() == 1u);
}

BOOST_AUTO_TEST_CASE(reinstated_domain_is_judged_from_the_next_day) {
    Fixture f;
    f.add_verified("example.com");
    // Yesterday and today: 20% bounces. Suspended.
    for (int64_t at : {f.now - kDay, f.now}) {
        f.add_stat("example.com", at, stats::kSent, 1000);
        f.add_stat("example.com", at, stats::kBounceHard, 200);
    }
    apply_health(f.store(), f.cfg, "example.com", f.now);
    BOOST_REQUIRE(f.domain("example.com").status == DomainStatus::suspended);

    f.admin->reinstate_domain("example.com");
    BOOST_TEST(f.domain("example.com").status == DomainStatus::verified);
    auto ev = f.events_of("example.com", "domain.reinstated");
    BOOST_REQUIRE(ev.size() == 1u);
    BOOST_TEST(ev[0]["by"] == user_name());
    const int64_t reinstated = ev[0]["at"].get<int64_t>();
    BOOST_TEST(reinstated >= f.now);
    BOOST_TEST(has(ev[0]["suspended_reason"].get<std::string>(), "bounce rate 20.0 percent"));

    // Same day, same old numbers (and more of them): not suspended again.
    f.add_stat("example.com", f.now, stats::kBounceHard, 100);
    HealthVerdict v = apply_health(f.store(), f.cfg, "example.com", reinstated);
    BOOST_TEST(v.rates.days == 0);
    BOOST_TEST(v.rates.sent == 0);
    BOOST_TEST(v.rates.reinstated_at == reinstated);
    BOOST_TEST(v.level() == HealthLevel::ok);
    BOOST_TEST(f.domain("example.com").status == DomainStatus::verified);

    // Next day, clean sending: the old days still in the 7-day window do not
    // count.
    const int64_t next = reinstated + kDay;
    f.add_stat("example.com", next, stats::kSent, 1000);
    f.add_stat("example.com", next, stats::kBounceHard, 10);
    v = apply_health(f.store(), f.cfg, "example.com", next);
    BOOST_TEST(v.rates.from_day == utc_day(next));
    BOOST_TEST(v.rates.days == 1);
    BOOST_TEST(v.rates.hard_bounces == 10);
    BOOST_TEST(v.level() == HealthLevel::ok);
    BOOST_TEST(f.domain("example.com").status == DomainStatus::verified);

    // The day after, its own new bounces suspend it again.
    const int64_t later = next + kDay;
    f.add_stat("example.com", later, stats::kSent, 1000);
    f.add_stat("example.com", later, stats::kBounceHard, 400);
    v = apply_health(f.store(), f.cfg, "example.com", later);
    BOOST_TEST(v.rates.sent == 2000);
    BOOST_TEST(v.rates.hard_bounces == 410);
    Domain d = f.domain("example.com");
    BOOST_TEST(d.status == DomainStatus::suspended);
    BOOST_TEST(has(d.suspended_reason, "since reinstatement"));
    BOOST_TEST(f.events_of("example.com", "domain.suspended").size() == 2u);

    // Once the reinstatement day has left the window, the window is whole.
    HealthRates r = f.rates("example.com", reinstated + 10 * kDay);
    BOOST_TEST(r.reinstated_at == 0);
    BOOST_TEST(r.days == 7);
}

BOOST_AUTO_TEST_CASE(events_command_orders_and_filters) {
    Fixture f;
    f.add_verified("a.example");
    f.add_verified("b.example");
    f.admin->rotate_dkim("a.example", "");
    // Older events, written out of time order and across domains.
    f.add_event("b.example", {{"type", "domain.suspended"},
                              {"by", "health"},
                              {"reason", "bounce rate 12.0% over 7 days"},
                              {"at", f.now - 2 * kDay}});
    f.add_event("a.example",
                {{"type", "dkim.retired"}, {"by", "alice"}, {"selector", "old"}, {"at", f.now - 10 * kDay}});
    f.add_event("a.example", {{"type", "domain.set"}, {"by", "bob"}, {"at", f.now - 3 * 3600}});

    auto r = f.ctl({"events"});
    BOOST_REQUIRE_MESSAGE(r.status == 0, r.err);
    auto ls = lines(r.out);
    BOOST_REQUIRE(ls.size() == 6u);
    BOOST_TEST(has(ls[0], "a.example  dkim.retired"));
    BOOST_TEST(has(ls[0], "by=alice  selector=old"));
    BOOST_TEST(ls[1].rfind(day_of(f.now - 2 * kDay), 0) == 0u);
    BOOST_TEST(
        has(ls[1], "b.example  domain.suspended  by=health  reason=\"bounce rate 12.0% over 7 days\""));
    BOOST_TEST(has(ls[2], "a.example  domain.set"));
    BOOST_TEST(has(ls[3], "a.example  domain.added"));
    BOOST_TEST(has(ls[4], "b.example  domain.added"));
    BOOST_TEST(has(ls[5], "a.example  dkim.rotated"));
    BOOST_TEST(has(ls[5], "by=" + user_name()));

    struct Case {
        const char* label;
        std::vector<std::string> args;
        std::vector<std::string> types;  // in output order
    };
    const Case cases[] = {
        {"one domain", {"events", "b.example"}, {"domain.suspended", "domain.added"}},
        {"age in days",
         {"events", "--since", "7d"},
         {"domain.suspended", "domain.set", "domain.added", "domain.added", "dkim.rotated"}},
        {"age in hours",
         {"events", "--since", "12h"},
         {"domain.set", "domain.added", "domain.added", "dkim.rotated"}},
        {"day",
         {"events", "--since", day_of(f.now - 3 * kDay)},
         {"domain.suspended", "domain.set", "domain.added", "domain.added", "dkim.rotated"}},
        {"time before",
         {"events", "b.example", "--since", iso(f.now - 2 * kDay - 60)},
         {"domain.suspended", "domain.added"}},
        {"time after", {"events", "b.example", "--since", iso(f.now - 2 * kDay + 60)}, {"domain.added"}},
        {"type prefix with dot",
         {"events", "a.example", "--type", "dkim."},
         {"dkim.retired", "dkim.rotated"}},
        {"type prefix without dot",
         {"events", "--type", "domain"},
         {"domain.suspended", "domain.set", "domain.added", "domain.added"}},
        {"exact type", {"events", "--type", "domain.suspended"}, {"domain.suspended"}},
        {"not a component", {"events", "--type", "domain.sus"}, {}},
        {"both", {"events", "--since", "7d", "--type", "domain.added"}, {"domain.added", "domain.added"}},
    };
    for (const auto& c : cases) BOOST_TEST_CONTEXT(c.label) {
            auto cr = f.ctl(c.args);
            BOOST_TEST(cr.status == 0, cr.err);
            std::vector<std::string> got;
            for (const auto& l : lines(cr.out)) {
                std::istringstream in(l);
                std::string date, time, domain, type;
                in >> date >> time >> domain >> type;
                got.push_back(type);
            }
            BOOST_TEST(got == c.types, tt::per_element());
        }

    // JSON: the same events with the domain and a time added.
    auto jr = f.ctl({"events", "--type", "domain.suspended", "--json"});
    BOOST_REQUIRE_MESSAGE(jr.status == 0, jr.err);
    json j = json::parse(jr.out);
    BOOST_REQUIRE(j.size() == 1u);
    BOOST_TEST(j[0]["domain"] == "b.example");
    BOOST_TEST(j[0]["by"] == "health");
    BOOST_TEST(j[0]["at"] == f.now - 2 * kDay);
    BOOST_TEST(j[0]["time"] == iso(f.now - 2 * kDay));

    // Removed domains keep their history.
    BOOST_REQUIRE(f.ctl({"domain", "remove", "b.example"}).status == 0);
    r = f.ctl({"events", "b.example", "--type", "domain."});
    BOOST_TEST(r.status == 0, r.err);
    ls = lines(r.out);
    BOOST_REQUIRE(ls.size() == 3u);
    BOOST_TEST(has(ls[2], "domain.removed"));
    BOOST_TEST(has(ls[2], "by=" + user_name()));
    BOOST_TEST(lines(f.ctl({"events"}).out).size() == 7u);

    // Bad values: usage errors naming the accepted forms, before any work.
    for (std::string bad : {"yesterday", "7w", "d", "-7d", "2026-02-30", "2026-13-01", "2026-12-01T10:00:00",
                            "2026-12-01 10:00:00Z", "2026-12-01T25:00:00Z", ""}) {
        BOOST_TEST_CONTEXT(bad) {
            auto br = f.ctl({"events", "--since", bad});
            BOOST_TEST(br.status == 1);
            BOOST_TEST(br.err.rfind("outpostctl: SINCE_INVALID", 0) == 0u, br.err);
            BOOST_TEST(has(br.err, "YYYY-MM-DD"));
            BOOST_TEST(has(br.err, "7d"));
            BOOST_TEST(br.out.empty());
        }
    }
    for (std::string bad : {"Domain!", "", "domain suspended"}) {
        BOOST_TEST_CONTEXT(bad) {
            auto br = f.ctl({"events", "--type", bad});
            BOOST_TEST(br.status == 1);
            BOOST_TEST(br.err.rfind("outpostctl: TYPE_INVALID", 0) == 0u, br.err);
        }
    }
    auto br = f.ctl({"events", "never.example"});
    BOOST_TEST(br.status == 2);
    BOOST_TEST(br.err.rfind("outpostctl: DOMAIN_NOT_FOUND", 0) == 0u, br.err);
}

BOOST_AUTO_TEST_CASE(admin_actions_write_events) {
    Fixture f;
    auto run = [&](std::vector<std::string> args) {
        auto r = f.ctl(args);
        BOOST_REQUIRE_MESSAGE(r.status == 0, r.err);
    };
    run({"domain", "add", "example.com"});
    Domain d = f.domain("example.com");
    d.status = DomainStatus::verified;
    d.verified_at = f.now;
    for (auto& s : d.selectors) s.state = SelectorState::active;
    f.admin->save_domain(d);
    run({"domain", "set", "example.com", "--track-opens", "on", "--daily-cap", "500"});
    run({"domain", "dkim", "rotate", "example.com"});
    const std::string old_selector = d.selectors.front().name;
    d = f.domain("example.com");
    d.selectors.back().state = SelectorState::active;  // as verify would
    f.admin->save_domain(d);
    run({"domain", "dkim", "retire", "example.com", old_selector});
    run({"domain", "suspend", "example.com", "--reason", "abuse desk"});
    run({"domain", "reinstate", "example.com"});
    run({"domain", "remove", "example.com"});

    auto r = f.ctl({"events", "example.com", "--json"});
    BOOST_REQUIRE_MESSAGE(r.status == 0, r.err);
    json j = json::parse(r.out);
    std::vector<std::string> types;
    for (const auto& e : j) {
        types.push_back(e["type"]);
        BOOST_TEST(e["by"] == user_name());
        BOOST_TEST(e["at"].get<int64_t>() >= f.now);
    }
    const std::vector<std::string> want = {"domain.added",  "domain.set",       "dkim.rotated",
                                           "dkim.retired",  "domain.suspended", "domain.reinstated",
                                           "domain.removed"};
    BOOST_TEST(types == want, tt::per_element());
    BOOST_REQUIRE(j.size() == want.size());
    BOOST_TEST(j[1]["changes"]["track_opens"] == true);
    BOOST_TEST(j[1]["changes"]["daily_cap"] == 500);
    BOOST_TEST(!j[1]["changes"].contains("track_clicks"));
    BOOST_TEST(j[2]["selector"] == d.selectors.back().name);
    BOOST_TEST(j[3]["selector"] == old_selector);
    BOOST_TEST(j[4]["reason"] == "abuse desk");
    BOOST_TEST(j[5]["suspended_reason"] == "abuse desk");
}

BOOST_AUTO_TEST_CASE(domain_show_and_stats_carry_health) {
    Fixture f;
    f.add_verified("example.com");
    f.add_verified("shared.example", true);
    for (const char* name : {"example.com", "shared.example"}) {
        f.add_stat(name, f.now, stats::kSent, 1000);
        f.add_stat(name, f.now, stats::kBounceHard, 60);
        f.add_stat(name, f.now, stats::kBounceSoft, 7);
        f.add_stat(name, f.now, stats::kComplaint, 2);
        f.add_stat(name, f.now, stats::kSuppressedBounce, 5);
        f.add_stat(name, f.now, stats::kSuppressedComplaint, 2);
    }
    f.add_stat("example.com", f.now - 8 * kDay, stats::kBounceHard, 5000);  // outside both windows

    auto r = f.ctl({"domain", "show", "example.com"});
    BOOST_REQUIRE_MESSAGE(r.status == 0, r.err);
    BOOST_TEST(has(r.out, "health:        warn (" + day_of(f.now - 6 * kDay) + " .. " + day_of(f.now) +
                              " UTC, 7 days, own-domain thresholds)"),
               r.out);
    BOOST_TEST(has(r.out, "  sent           1000 recipients (min volume 200)"), r.out);
    BOOST_TEST(has(r.out, "  hard bounces   60 (6.0%; warn above 5.0%, suspend above 10.0%)"), r.out);
    BOOST_TEST(has(r.out, "  soft bounces   7"), r.out);
    BOOST_TEST(has(r.out, "  complaints     2 (0.2%; warn above 0.1%, suspend above 0.5%)"), r.out);
    BOOST_TEST(has(r.out, "  reason         bounce rate 6.0% over 7 days (60 of 1000; warn above 5.0%)"),
               r.out);

    r = f.ctl({"domain", "show", "shared.example"});
    BOOST_TEST(has(r.out, "health:        suspend ("), r.out);
    BOOST_TEST(has(r.out, "shared-domain thresholds"), r.out);
    BOOST_TEST(has(r.out, "warn above 2.0%, suspend above 4.0%"), r.out);

    auto jr = f.ctl({"domain", "show", "example.com", "--json"});
    BOOST_REQUIRE_MESSAGE(jr.status == 0, jr.err);
    json h = json::parse(jr.out)["health"];
    BOOST_TEST(h["sent"] == 1000);
    BOOST_TEST(h["hard_bounces"] == 60);
    BOOST_TEST(h["soft_bounces"] == 7);
    BOOST_TEST(h["complaints"] == 2);
    BOOST_TEST(h["bounce_rate"].get<double>() == 0.06, tt::tolerance(1e-12));
    BOOST_TEST(h["complaint_rate"].get<double>() == 0.002, tt::tolerance(1e-12));
    BOOST_TEST(h["bounce"] == "warn");
    BOOST_TEST(h["complaint"] == "warn");
    BOOST_TEST(h["level"] == "warn");
    BOOST_TEST(h["thresholds"]["kind"] == "own");
    BOOST_TEST(h["thresholds"]["bounce_suspend"].get<double>() == 0.10, tt::tolerance(1e-12));
    BOOST_TEST(h["from"] == utc_day(f.now - 6 * kDay));

    // A quiet domain: below min volume.
    f.add_verified("quiet.example");
    f.add_stat("quiet.example", f.now, stats::kSent, 10);
    f.add_stat("quiet.example", f.now, stats::kBounceHard, 10);
    r = f.ctl({"domain", "show", "quiet.example"});
    BOOST_TEST(has(r.out, "health:        below min volume ("), r.out);
    BOOST_TEST(json::parse(f.ctl({"domain", "show", "quiet.example", "--json"}).out)["health"]["level"] ==
               "below_min_volume");

    r = f.ctl({"stats", "example.com"});
    BOOST_REQUIRE_MESSAGE(r.status == 0, r.err);
    BOOST_TEST(has(r.out, "  bounces        60 hard (6.0%), 7 soft"), r.out);
    BOOST_TEST(has(r.out, "  complaints     2 (0.2%)"), r.out);
    BOOST_TEST(has(r.out, "  suppressed     5 for bounces, 2 for complaints"), r.out);
    BOOST_TEST(has(r.out, "  health         warn: bounce rate 6.0% over 7 days"), r.out);
    // --days 10 reaches the old bounces; the health line does not.
    r = f.ctl({"stats", "example.com", "--days", "10"});
    BOOST_TEST(has(r.out, "  bounces        5060 hard (506.0%), 7 soft"), r.out);
    BOOST_TEST(has(r.out, "  health         warn: "), r.out);

    jr = f.ctl({"stats", "example.com", "--json"});
    BOOST_REQUIRE_MESSAGE(jr.status == 0, jr.err);
    json s = json::parse(jr.out);
    BOOST_TEST(s["bounces"]["hard"] == 60);
    BOOST_TEST(s["bounces"]["soft"] == 7);
    BOOST_TEST(s["bounces"]["rate"].get<double>() == 0.06, tt::tolerance(1e-12));
    BOOST_TEST(s["complaints"]["count"] == 2);
    BOOST_TEST(s["complaints"]["rate"].get<double>() == 0.002, tt::tolerance(1e-12));
    BOOST_TEST(s["suppressed"]["bounce"] == 5);
    BOOST_TEST(s["suppressed"]["complaint"] == 2);
    BOOST_TEST(s["health"]["level"] == "warn");
    jr = f.ctl({"stats", "shared.example", "--json"});
    BOOST_TEST(json::parse(jr.out)["health"]["level"] == "suspend");
}
