// ctl_events.cpp - `outpostctl events [DOMAIN] [--since T] [--type T] [--json]`.
//
// A domain's history (or every domain's, merged) from the events table of
// the counters environment, oldest first, one line each:
//
//   2026-12-01 21:17:17Z  example.com  domain.suspended  by=health  reason="bounce rate 12.0% ..."
//
// Removed domains keep their history, so their events show too. --since
// takes a day (YYYY-MM-DD, from 00:00 UTC), a time (YYYY-MM-DDTHH:MM:SSZ)
// or an age (7d, 12h); --type a type or a prefix of it ending at a dot
// ("domain" or "domain." match domain.added, domain.suspended, ...).
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>

#include "control/ctl.h"
#include "dns/domain_name.h"
#include "base/log.h"

namespace outpost::ctl {
namespace {

struct Entry {
    std::string domain;
    std::string key;  // when it was written: zero-padded nanoseconds
    int64_t at = 0;
    std::string type;
    nlohmann::json event;
};

[[noreturn]] void bad_since(const std::string& v) {
    throw Error(Exit::usage, "SINCE_INVALID",
                "--since '" + v +
                    "' is not a day YYYY-MM-DD, a time YYYY-MM-DDTHH:MM:SSZ (UTC) or an age such as 7d "
                    "or 12h");
}

// `pattern`: '#' a digit, anything else itself.
bool shaped(const std::string& v, const char* pattern) {
    const std::string p = pattern;
    if (v.size() != p.size()) return false;
    for (size_t i = 0; i < p.size(); ++i)
        if (p[i] == '#' ? !(v[i] >= '0' && v[i] <= '9') : v[i] != p[i]) return false;
    return true;
}

int number(const std::string& v, size_t pos, size_t len) {
    return std::stoi(v.substr(pos, len));
}

int64_t parse_since(const std::string& v, int64_t now) {
    if (v.size() >= 2 && v.size() <= 7 && (v.back() == 'd' || v.back() == 'h')) {
        const std::string n = v.substr(0, v.size() - 1);
        if (n.find_first_not_of("0123456789") != std::string::npos) bad_since(v);
        return now - std::stoll(n) * (v.back() == 'd' ? 86400 : 3600);
    }
    std::tm tm{};
    if (shaped(v, "####-##-##") || shaped(v, "####-##-##T##:##:##Z")) {
        tm.tm_year = number(v, 0, 4) - 1900;
        tm.tm_mon = number(v, 5, 2) - 1;
        tm.tm_mday = number(v, 8, 2);
        if (v.size() > 10) {
            tm.tm_hour = number(v, 11, 2);
            tm.tm_min = number(v, 14, 2);
            tm.tm_sec = number(v, 17, 2);
        }
    } else {
        bad_since(v);
    }
    const std::tm want = tm;
    const std::time_t t = ::timegm(&tm);
    // timegm normalizes 2026-02-30 to March 2: such a date is refused.
    if (tm.tm_year != want.tm_year || tm.tm_mon != want.tm_mon || tm.tm_mday != want.tm_mday ||
        tm.tm_hour != want.tm_hour || tm.tm_min != want.tm_min || tm.tm_sec != want.tm_sec)
        bad_since(v);
    return static_cast<int64_t>(t);
}

void check_type(const std::string& t) {
    if (t.empty() || t.size() > 64 ||
        t.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") != std::string::npos)
        throw Error(Exit::usage, "TYPE_INVALID",
                    "--type '" + t +
                        "' is not an event type such as domain.suspended or a prefix such as domain. "
                        "(lower-case letters, digits, '.', '_', '-')");
}

// "domain" and "domain." match "domain.added"; "domain.suspended" matches
// itself, not "domain.suspended_x".
bool type_matches(const std::string& type, const std::string& want) {
    if (want.back() == '.') return type.rfind(want, 0) == 0;
    return type == want || type.rfind(want + ".", 0) == 0;
}

std::string field_text(const nlohmann::json& v) {
    return v.is_string() ? log_value(v.get<std::string>()) : v.dump();
}

std::string iso_time(int64_t t) {
    std::string s = format_time(t);  // "YYYY-MM-DD HH:MM:SSZ"
    if (s.size() > 10) s[10] = 'T';
    return s;
}

}  // namespace

void register_events_commands(CLI::App& app, Context& ctx) {
    auto* c = app.add_subcommand("events", "a domain's history: additions, verification, DKIM, suspensions");
    static std::string domain, since, type;
    c->add_option("domain", domain, "one domain, removed ones included (default: every domain)");
    auto* since_opt =
        c->add_option("--since", since, "from YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ (UTC), or an age: 7d, 12h");
    auto* type_opt =
        c->add_option("--type", type, "only this type, or a prefix of it: domain., dkim., domain.suspended");
    c->add_flag("--json", ctx.json, "JSON output");
    c->callback([&ctx, since_opt, type_opt] {
        const int64_t now = now_seconds();
        const std::optional<int64_t> from =
            since_opt->count() ? std::optional(parse_since(since, now)) : std::nullopt;
        const bool by_type = type_opt->count() > 0;
        if (by_type) check_type(type);
        Admin& a = ctx.admin();
        Store& store = a.store();
        const std::string name = domain.empty() ? "" : normalize_domain(domain).ascii;
        // Read the table itself rather than Store::events: its keys (domain
        // NUL nanoseconds) order events of the same second, across domains
        // too, and events of every domain ever added are found.
        std::vector<Entry> entries;
        {
            auto t = store.read_counters();
            t.each(store.dbi().events, name.empty() ? "" : name + '\0',
                   [&](std::string_view key, std::string_view val) {
                       const size_t nul = key.find('\0');
                       auto e = nlohmann::json::parse(val, nullptr, false);
                       if (nul == std::string_view::npos || !e.is_object()) return true;
                       Entry en;
                       en.domain = std::string(key.substr(0, nul));
                       en.key = std::string(key.substr(nul + 1));
                       if (auto it = e.find("at"); it != e.end() && it->is_number_integer())
                           en.at = it->get<int64_t>();
                       if (auto it = e.find("type"); it != e.end() && it->is_string())
                           en.type = it->get<std::string>();
                       en.event = std::move(e);
                       entries.push_back(std::move(en));
                       return true;
                   });
        }
        if (!name.empty() && entries.empty()) {
            auto t = store.read();
            if (!store.domain(t, name))
                throw Error(Exit::not_found, "DOMAIN_NOT_FOUND",
                            "domain " + name +
                                " has no history in the store; see `outpostctl domain list --removed`");
        }
        // Oldest first by their own time ("at" may be earlier than the
        // write), then in the order they were written.
        std::sort(entries.begin(), entries.end(),
                  [](const Entry& x, const Entry& y) { return x.at != y.at ? x.at < y.at : x.key < y.key; });
        entries.erase(std::remove_if(entries.begin(), entries.end(),
                                     [&](const Entry& e) {
                                         return (from && e.at < *from) ||
                                                (by_type && !type_matches(e.type, type));
                                     }),
                      entries.end());
        if (ctx.json) {
            nlohmann::json out = nlohmann::json::array();
            for (const auto& e : entries) {
                nlohmann::json j = e.event;
                j["domain"] = e.domain;
                j["time"] = iso_time(e.at);
                out.push_back(std::move(j));
            }
            std::cout << out.dump(2) << '\n';
            return;
        }
        size_t dw = 0, tw = 0;
        for (const auto& e : entries) {
            dw = std::max(dw, e.domain.size());
            tw = std::max(tw, e.type.size());
        }
        for (const auto& e : entries) {
            std::string line = format_time(e.at) + "  " + e.domain + std::string(dw - e.domain.size(), ' ') +
                               "  " + e.type + std::string(tw - e.type.size(), ' ');
            // "by" first, then the other fields in name order.
            if (auto it = e.event.find("by"); it != e.event.end()) line += "  by=" + field_text(*it);
            for (const auto& [k, v] : e.event.items())
                if (k != "at" && k != "type" && k != "by") line += "  " + k + "=" + field_text(v);
            while (!line.empty() && line.back() == ' ') line.pop_back();
            std::printf("%s\n", line.c_str());
        }
    });
}

}  // namespace outpost::ctl
