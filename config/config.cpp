// config.cpp - the parameter table and the YAML loader built on it.
#include "config/config.h"

#include <arpa/inet.h>
#include <climits>
#include <cstdint>
#include <cstring>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <variant>

#include "base/error.h"

namespace outpost {
namespace {

enum class Type { string, integer, boolean, duration, size, percent, list, choice, ip_list };

// A parsed value: text, integer (also sizes and milliseconds), fraction, list.
using Value = std::variant<std::string, long long, double, bool, std::vector<std::string>>;

struct Param {
    const char* key;  // dotted path in the YAML file
    Type type;
    const char* def;      // default, written as it would be in the YAML file
    double min, max;      // bounds for integer, duration (ms), size, percent
    const char* choices;  // "a|b|c" for choice and (element-wise) list
    const char* doc;
    std::function<void(Config&, const Value&)> set;
};

const std::string& S(const Value& v) {
    return std::get<std::string>(v);
}
long long I(const Value& v) {
    return std::get<long long>(v);
}
double F(const Value& v) {
    return std::get<double>(v);
}
const std::vector<std::string>& L(const Value& v) {
    return std::get<std::vector<std::string>>(v);
}
std::chrono::milliseconds MS(const Value& v) {
    return std::chrono::milliseconds(I(v));
}

constexpr double kNoMax = 1e18;

// The table. Order is the order of the example file.
const std::vector<Param>& params() {
    static const std::vector<Param> table = {
        {"store.path", Type::string, "/var/lib/outpost", 0, 0, "",
         "LMDB environment directory (domains, keys, tenants, counters)",
         [](Config& c, const Value& v) { c.store.path = S(v); }},
        {"store.keys", Type::string, "/var/lib/outpost/keys", 0, 0, "",
         "DKIM private keys, one file per selector, mode 0600, never read by trackd",
         [](Config& c, const Value& v) { c.store.keys = S(v); }},
        {"store.counters_max_size", Type::size, "1GB", 65536, 1e12, "",
         "largest size the counters map (counters/: warmup counts, stats, events) grows to; "
         "past it counting stops, unlimited domains keep sending, warmup-limited ones get 451",
         [](Config& c, const Value& v) { c.store.counters_max_size = I(v); }},
        {"store.stats_days", Type::integer, "400", 2, 36500, "",
         "days of per-domain stats kept; older days are pruned by the milter every hour",
         [](Config& c, const Value& v) { c.store.stats_days = I(v); }},
        {"store.events_days", Type::integer, "90", 1, 36500, "",
         "days of events (bounces, complaints, unsubscribes, clicks) kept",
         [](Config& c, const Value& v) { c.store.events_days = I(v); }},

        {"log.facility", Type::choice, "mail", 0, 0,
         "mail|daemon|user|local0|local1|local2|local3|local4|local5|local6|local7",
         "syslog facility of the daemons' and outpostctl ingest's lines (mail: beside Postfix's "
         "in mail.log)",
         [](Config& c, const Value& v) { c.log.facility = S(v); }},

        {"milter.listen", Type::string, "unix:/run/outpost/milter.sock", 0, 0, "",
         "milter socket: unix:PATH or inet:PORT@ADDR",
         [](Config& c, const Value& v) { c.milter.listen = S(v); }},
        {"milter.user", Type::string, "outpost", 0, 0, "",
         "user the milter drops to after binding its socket",
         [](Config& c, const Value& v) { c.milter.user = S(v); }},
        {"milter.unauthenticated", Type::choice, "reject", 0, 0, "reject|allow",
         "mail with no SASL login, key header or CIDR match: reject (AUTH_REQUIRED) or allow",
         [](Config& c, const Value& v) { c.milter.unauthenticated = S(v); }},
        {"milter.unmanaged", Type::choice, "reject", 0, 0, "reject|pass",
         "mail from a sender that is no key and a From domain outpost does not manage: "
         "reject, or pass untouched (the relay's own and other mail)",
         [](Config& c, const Value& v) { c.milter.unmanaged = S(v); }},
        {"milter.pending_action", Type::choice, "reject", 0, 0, "reject|tempfail",
         "mail from a domain not yet verified: reject (550) or tempfail (451)",
         [](Config& c, const Value& v) { c.milter.pending_action = S(v); }},
        {"milter.sandbox_recipient", Type::string, "sandbox@relay.example.net", 0, 0, "",
         "where sandbox keys' mail goes instead of its recipients",
         [](Config& c, const Value& v) { c.milter.sandbox_recipient = S(v); }},
        {"milter.sandbox_mode", Type::choice, "redirect", 0, 0, "redirect|quarantine",
         "sandbox mail: redirect to sandbox_recipient, or hold in the MTA's quarantine",
         [](Config& c, const Value& v) { c.milter.sandbox_mode = S(v); }},
        {"milter.unsubscribe_mailto", Type::string, "unsubscribe", 0, 0, "",
         "mailto List-Unsubscribe local part (at relay.hostname) or full address",
         [](Config& c, const Value& v) { c.milter.unsubscribe_mailto = S(v); }},
        {"milter.socket_mode", Type::string, "\"0660\"", 0, 0, "",
         "mode of a unix milter socket (octal): the MTA's user or group must be able to write it",
         [](Config& c, const Value& v) { c.milter.socket_mode = S(v); }},
        {"milter.socket_group", Type::string, "postfix", 0, 0, "",
         "group given to a unix milter socket (postfix, smmsp for Sendmail); \"\" leaves it",
         [](Config& c, const Value& v) { c.milter.socket_group = S(v); }},
        {"milter.drain_timeout", Type::duration, "30s", 0, 600000, "",
         "on SIGTERM, how long to let messages in progress finish before exiting",
         [](Config& c, const Value& v) { c.milter.drain_timeout = MS(v); }},

        {"relay.hostname", Type::string, "relay.example.net", 0, 0, "", "this relay's host name",
         [](Config& c, const Value& v) { c.relay.hostname = S(v); }},
        {"relay.ips", Type::ip_list, "[192.0.2.10, 2001:db8::10]", 0, 0, "",
         "addresses the relay sends from: what each domain's SPF must authorize",
         [](Config& c, const Value& v) { c.relay.ips = L(v); }},
        {"relay.spf_include", Type::string, "_spf.relay.example.net", 0, 0, "",
         "what domains are told to include: in their SPF record",
         [](Config& c, const Value& v) { c.relay.spf_include = S(v); }},
        {"relay.bounce_host", Type::string, "bounces.relay.example.net", 0, 0, "",
         "MX target for MAIL FROM subdomains", [](Config& c, const Value& v) { c.relay.bounce_host = S(v); }},
        {"relay.verp_prefix", Type::string, "bounces", 0, 0, "",
         "local part before '+' of the VERP return path (bounces+TOKEN@bounce.example.com)",
         [](Config& c, const Value& v) { c.relay.verp_prefix = S(v); }},

        {"dns.upstream", Type::string, "\"\"", 0, 0, "",
         "\"\" resolves recursively; ADDR[@PORT] forwards every query there",
         [](Config& c, const Value& v) { c.dns.upstream = S(v); }},
        {"dns.timeout", Type::duration, "5s", 100, 120000, "", "time allowed for one DNS query",
         [](Config& c, const Value& v) { c.dns.timeout = MS(v); }},
        {"dns.deadline", Type::duration, "60s", 100, 3600000, "",
         "time allowed for all the queries of one verify run",
         [](Config& c, const Value& v) { c.dns.deadline = MS(v); }},
        {"dns.trust_anchor", Type::string, "\"\"", 0, 0, "",
         "DNSSEC root trust anchor file (e.g. /usr/share/dns/root.key); \"\" = no validation",
         [](Config& c, const Value& v) { c.dns.trust_anchor = S(v); }},
        {"dns.concurrency", Type::integer, "200", 1, 10000, "",
         "DNS queries in flight at once during verify --all",
         [](Config& c, const Value& v) { c.dns.concurrency = static_cast<int>(I(v)); }},

        {"dkim.algorithm", Type::choice, "rsa", 0, 0, "rsa|ed25519|both",
         "key types generated for new domains and rotations",
         [](Config& c, const Value& v) { c.dkim.algorithm = S(v); }},
        {"dkim.rsa_bits", Type::integer, "2048", 1024, 4096, "", "RSA key size (never below 1024)",
         [](Config& c, const Value& v) { c.dkim.rsa_bits = static_cast<int>(I(v)); }},
        {"dkim.selector_prefix", Type::string, "op", 0, 0, "",
         "selectors are PREFIX + creation date, e.g. op20261122",
         [](Config& c, const Value& v) { c.dkim.selector_prefix = S(v); }},

        {"verify.required", Type::list, "[dkim, spf, dmarc]", 0, 0, "dkim|spf|dmarc|mailfrom|tracking",
         "checks that must pass for a domain to be verified",
         [](Config& c, const Value& v) { c.verify.required = L(v); }},
        {"verify.pending_timeout", Type::duration, "72h", 60000, 31536000000.0, "",
         "a domain pending this long becomes failed",
         [](Config& c, const Value& v) {
             c.verify.pending_timeout = std::chrono::duration_cast<std::chrono::seconds>(MS(v));
         }},

        {"records.mailfrom", Type::string, "bounce", 0, 0, "",
         "label of the MAIL FROM subdomain (bounce.example.com)",
         [](Config& c, const Value& v) { c.records.mailfrom = S(v); }},
        {"records.tracking", Type::string, "track", 0, 0, "",
         "label of the tracking CNAME (track.example.com)",
         [](Config& c, const Value& v) { c.records.tracking = S(v); }},
        {"records.dmarc_policy", Type::choice, "none", 0, 0, "none|quarantine|reject",
         "DMARC policy suggested for new domains",
         [](Config& c, const Value& v) { c.records.dmarc_policy = S(v); }},
        {"records.ttl", Type::integer, "3600", 60, 604800, "", "TTL written in BIND zone fragments",
         [](Config& c, const Value& v) { c.records.ttl = static_cast<int>(I(v)); }},

        {"warmup.days", Type::integer, "14", 0, 365, "", "length of the warmup ramp; 0 disables warmup",
         [](Config& c, const Value& v) { c.warmup.days = static_cast<int>(I(v)); }},
        {"warmup.first_day", Type::integer, "50", 1, kNoMax, "",
         "recipients allowed on day 0; doubles each day",
         [](Config& c, const Value& v) { c.warmup.first_day = I(v); }},
        {"warmup.cap", Type::integer, "0", 0, kNoMax, "",
         "daily recipient cap during and after warmup; 0 = no cap after warmup",
         [](Config& c, const Value& v) { c.warmup.cap = I(v); }},

        {"tracking.host", Type::string, "t.relay.example.net", 0, 0, "",
         "host name of outpost-trackd that tracking CNAMEs point to",
         [](Config& c, const Value& v) { c.tracking.host = S(v); }},
        {"tracking.listen", Type::string, "127.0.0.1:8080", 0, 0, "", "address outpost-trackd listens on",
         [](Config& c, const Value& v) { c.tracking.listen = S(v); }},
        {"tracking.secret_file", Type::string, "/etc/outpost/tracking.key", 0, 0, "",
         "AES-256-GCM secrets of tracking, unsubscribe and VERP tokens",
         [](Config& c, const Value& v) { c.tracking.secret_file = S(v); }},
        {"tracking.max_bytes", Type::size, "10MB", 0, 1e12, "",
         "largest message rewritten for tracking; larger ones go untracked",
         [](Config& c, const Value& v) { c.tracking.max_bytes = I(v); }},
        {"tracking.user", Type::string, "outpost-web", 0, 0, "",
         "user outpost-trackd runs as when started as root (never one that can read DKIM keys)",
         [](Config& c, const Value& v) { c.tracking.user = S(v); }},
        {"tracking.open_lifetime", Type::duration, "180d", 3600000, 3153600000000.0, "",
         "how long an open pixel token is counted",
         [](Config& c,
            const Value&
                v) { c.tracking.open_lifetime = std::chrono::duration_cast<std::chrono::seconds>(MS(v)); }},
        {"tracking.click_lifetime", Type::duration, "365d", 3600000, 3153600000000.0, "",
         "how long a click link redirects",
         [](Config& c,
            const Value&
                v) { c.tracking.click_lifetime = std::chrono::duration_cast<std::chrono::seconds>(MS(v)); }},
        {"tracking.unsubscribe_lifetime", Type::duration, "730d", 31536000000.0, 3153600000000.0, "",
         "how long an unsubscribe link or mailto token works (at least a year)",
         [](Config& c, const Value& v) {
             c.tracking.unsubscribe_lifetime = std::chrono::duration_cast<std::chrono::seconds>(MS(v));
         }},
        {"tracking.max_connections", Type::integer, "1024", 1, 100000, "",
         "connections outpost-trackd serves at once; more wait in the listen queue",
         [](Config& c, const Value& v) { c.tracking.max_connections = static_cast<int>(I(v)); }},
        {"tracking.timeout", Type::duration, "10s", 100, 600000, "",
         "time a client has to send a request (and between keep-alive requests)",
         [](Config& c, const Value& v) { c.tracking.timeout = MS(v); }},

        {"bounces.suppress_after", Type::integer, "3", 1, 100, "",
         "permanent failures other than \"no such mailbox\" before a recipient is suppressed",
         [](Config& c, const Value& v) { c.bounces.suppress_after = static_cast<int>(I(v)); }},
        {"bounces.lifetime", Type::duration, "30d", 3600000, 31536000000.0, "",
         "how long a VERP return path is accepted for bounces and complaints",
         [](Config& c,
            const Value&
                v) { c.bounces.lifetime = std::chrono::duration_cast<std::chrono::seconds>(MS(v)); }},

        {"health.window_days", Type::integer, "7", 1, 90, "", "rolling window for bounce and complaint rates",
         [](Config& c, const Value& v) { c.health.window_days = static_cast<int>(I(v)); }},
        {"health.min_volume", Type::integer, "200", 0, kNoMax, "",
         "no suspension below this many messages in the window",
         [](Config& c, const Value& v) { c.health.min_volume = I(v); }},
        {"health.own.bounce_warn", Type::percent, "5%", 0, 1, "", "own domains: warn above",
         [](Config& c, const Value& v) { c.health.own.bounce_warn = F(v); }},
        {"health.own.bounce_suspend", Type::percent, "10%", 0, 1, "", "own domains: suspend above",
         [](Config& c, const Value& v) { c.health.own.bounce_suspend = F(v); }},
        {"health.own.complaint_warn", Type::percent, "0.1%", 0, 1, "", "own domains: warn above",
         [](Config& c, const Value& v) { c.health.own.complaint_warn = F(v); }},
        {"health.own.complaint_suspend", Type::percent, "0.5%", 0, 1, "", "own domains: suspend above",
         [](Config& c, const Value& v) { c.health.own.complaint_suspend = F(v); }},
        {"health.shared.bounce_warn", Type::percent, "2%", 0, 1, "", "shared domains: warn above",
         [](Config& c, const Value& v) { c.health.shared.bounce_warn = F(v); }},
        {"health.shared.bounce_suspend", Type::percent, "4%", 0, 1, "", "shared domains: suspend above",
         [](Config& c, const Value& v) { c.health.shared.bounce_suspend = F(v); }},
        {"health.shared.complaint_warn", Type::percent, "0.05%", 0, 1, "", "shared domains: warn above",
         [](Config& c, const Value& v) { c.health.shared.complaint_warn = F(v); }},
        {"health.shared.complaint_suspend", Type::percent, "0.1%", 0, 1, "", "shared domains: suspend above",
         [](Config& c, const Value& v) { c.health.shared.complaint_suspend = F(v); }},
    };
    return table;
}

const char* type_name(Type t) {
    switch (t) {
        case Type::string:
            return "a string";
        case Type::integer:
            return "an integer";
        case Type::boolean:
            return "true or false";
        case Type::duration:
            return "a duration such as 500ms, 5s, 10m, 72h or 7d";
        case Type::size:
            return "a size such as 512KB or 10MB";
        case Type::percent:
            return "a percentage such as 0.5%";
        case Type::list:
            return "a list such as [a, b]";
        case Type::choice:
            return "one of the listed words";
        case Type::ip_list:
            return "a list of IP addresses";
    }
    return "?";
}

struct Where {
    std::string origin;
    YAML::Mark mark;
    std::string str() const {
        std::ostringstream o;
        o << origin;
        if (mark.line >= 0) o << ':' << mark.line + 1 << ':' << mark.column + 1;
        return o.str();
    }
};

// A problem at a place in the file (the loader goes on to the next key).
struct PlacedError : Error {
    PlacedError(const Where& w, const std::string& what)
        : Error(Exit::config, "", w.str() + ": " + what), line(w.mark.line), column(w.mark.column) {}
    int line, column;
};

[[noreturn]] void fail(const Where& w, const std::string& what) {
    throw PlacedError(w, what);
}

// Number with an optional unit suffix; returns false if not of that shape.
bool number_with_unit(const std::string& s, double& n, std::string& unit) {
    if (s.empty()) return false;
    char* end = nullptr;
    n = std::strtod(s.c_str(), &end);
    if (end == s.c_str()) return false;
    unit.assign(end);
    while (!unit.empty() && unit.front() == ' ') unit.erase(unit.begin());
    return std::isfinite(n);
}

std::vector<std::string> split_choices(const char* c) {
    std::vector<std::string> out;
    std::string cur;
    for (const char* p = c; *p; ++p) {
        if (*p == '|') {
            out.push_back(cur);
            cur.clear();
        } else
            cur += *p;
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
}

std::string scalar_text(const YAML::Node& n) {
    return n.Scalar();
}

void check_bounds(const Param& p, const Where& w, double n, const std::string& shown) {
    if (n < p.min || n > p.max) {
        std::ostringstream o;
        o << p.key << " = " << shown << " is out of range";
        if (p.type == Type::duration)
            o << " (allowed: " << p.min << "ms to " << p.max << "ms)";
        else if (p.type == Type::percent)
            o << " (allowed: " << p.min * 100 << "% to " << p.max * 100 << "%)";
        else if (p.max >= kNoMax)
            o << " (allowed: at least " << static_cast<long long>(p.min) << ")";
        else
            o << " (allowed: " << static_cast<long long>(p.min) << " to " << static_cast<long long>(p.max)
              << ")";
        fail(w, o.str());
    }
}

Value convert(const Param& p, const YAML::Node& n, const Where& w) {
    auto want = [&]() -> std::string { return std::string(p.key) + " must be " + type_name(p.type); };
    const bool list_type = p.type == Type::list || p.type == Type::ip_list;
    if (list_type) {
        if (!n.IsSequence())
            fail(w, want() + (n.IsScalar() ? ", not '" + scalar_text(n) + "'" : std::string()));
        std::vector<std::string> out;
        const auto choices = split_choices(p.choices);
        for (const auto& e : n) {
            Where ew{w.origin, e.Mark()};
            if (!e.IsScalar()) fail(ew, std::string(p.key) + " entries must be single values");
            std::string s = scalar_text(e);
            if (p.type == Type::ip_list) {
                unsigned char buf[16];
                if (inet_pton(AF_INET, s.c_str(), buf) != 1 && inet_pton(AF_INET6, s.c_str(), buf) != 1)
                    fail(ew, std::string(p.key) + ": '" + s + "' is not an IPv4 or IPv6 address");
            } else if (!choices.empty() && std::find(choices.begin(), choices.end(), s) == choices.end()) {
                fail(ew, std::string(p.key) + ": '" + s + "' is not one of " + p.choices);
            }
            out.push_back(s);
        }
        return out;
    }
    if (!n.IsScalar()) fail(w, want());
    const std::string s = scalar_text(n);
    double num = 0;
    std::string unit;
    switch (p.type) {
        case Type::string:
            return s;
        case Type::choice: {
            auto c = split_choices(p.choices);
            if (std::find(c.begin(), c.end(), s) == c.end())
                fail(w, std::string(p.key) + ": '" + s + "' is not one of " + p.choices);
            // (list entries are checked the same way above)
            return s;
        }
        case Type::boolean:
            if (s == "true" || s == "yes" || s == "on") return true;
            if (s == "false" || s == "no" || s == "off") return false;
            fail(w, want() + ", not '" + s + "'");
        case Type::integer: {
            if (!number_with_unit(s, num, unit) || !unit.empty() || num != std::floor(num))
                fail(w, want() + ", not '" + s + "'");
            check_bounds(p, w, num, s);
            return static_cast<long long>(num);
        }
        case Type::duration: {
            static const std::map<std::string, double> ms = {
                {"ms", 1}, {"s", 1e3}, {"m", 60e3}, {"h", 3600e3}, {"d", 86400e3}};
            if (!number_with_unit(s, num, unit) || !ms.count(unit) || num < 0)
                fail(w, want() + ", not '" + s + "'");
            num *= ms.at(unit);
            check_bounds(p, w, num, s);
            return static_cast<long long>(num);
        }
        case Type::size: {
            static const std::map<std::string, double> b = {
                {"", 1}, {"B", 1}, {"KB", 1024}, {"MB", 1024.0 * 1024}, {"GB", 1024.0 * 1024 * 1024}};
            if (!number_with_unit(s, num, unit) || !b.count(unit) || num < 0)
                fail(w, want() + ", not '" + s + "'");
            num *= b.at(unit);
            check_bounds(p, w, num, s);
            return static_cast<long long>(num);
        }
        case Type::percent: {
            if (!number_with_unit(s, num, unit) || unit != "%") fail(w, want() + ", not '" + s + "'");
            num /= 100;
            check_bounds(p, w, num, s);
            return num;
        }
        default:
            fail(w, want());
    }
}

size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= b.size(); ++j)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

std::string suggestion(const std::string& key) {
    std::string best;
    size_t best_d = 4;
    std::set<std::string> candidates;
    for (const auto& p : params()) {
        std::string k = p.key;
        candidates.insert(k);
        for (size_t dot = k.find('.'); dot != std::string::npos; dot = k.find('.', dot + 1))
            candidates.insert(k.substr(0, dot));
    }
    for (const auto& c : candidates) {
        size_t d = edit_distance(key, c);
        if (d < best_d) {
            best_d = d;
            best = c;
        }
    }
    return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

const Param* find_param(const std::string& key) {
    for (const auto& p : params())
        if (key == p.key) return &p;
    return nullptr;
}

bool is_section(const std::string& prefix) {
    for (const auto& p : params())
        if (std::string(p.key).rfind(prefix + ".", 0) == 0) return true;
    return false;
}

// Every problem found in one file, each "FILE:LINE:COL: what; fix".
struct Problems {
    struct Line {
        int line, column;  // -1: no place (after those that have one)
        std::string text;
    };
    std::vector<Line> found;
    std::map<std::string, Where> where;  // the value of each key set in the file
    void add(const PlacedError& e) { found.push_back({e.line, e.column, e.what()}); }
    // In file order.
    std::vector<std::string> lines() {
        auto key = [](const Line& l) { return std::pair(l.line < 0 ? INT32_MAX : l.line, l.column); };
        std::stable_sort(found.begin(), found.end(), [&](const Line& a, const Line& b) { return key(a) < key(b); });
        std::vector<std::string> out;
        for (auto& l : found) out.push_back(std::move(l.text));
        return out;
    }
};

void walk(Config& c, const YAML::Node& map, const std::string& prefix, const std::string& origin,
          std::set<std::string>& seen, Problems& problems) {
    for (const auto& kv : map) try {
        Where w{origin, kv.first.Mark()};
        if (!kv.first.IsScalar()) fail(w, "keys must be plain words");
        const std::string key = prefix.empty() ? kv.first.Scalar() : prefix + "." + kv.first.Scalar();
        if (!seen.insert(key).second) fail(w, "'" + key + "' is set twice; keep one");
        if (const Param* p = find_param(key)) {
            Where vw{origin, kv.second.Mark()};
            problems.where[key] = vw;
            p->set(c, convert(*p, kv.second, vw));
        } else if (is_section(key)) {
            if (kv.second.IsNull()) continue;
            if (!kv.second.IsMap())
                fail(Where{origin, kv.second.Mark()},
                     "'" + key + "' is a section: it holds keys, not a value");
            walk(c, kv.second, key, origin, seen, problems);
        } else {
            fail(w, "unknown key '" + key + "'" + suggestion(key) +
                        "; `outpostctl config example` prints every key (see outpost.yaml(5))");
        }
    } catch (const PlacedError& e) {
        problems.add(e);
    }
}

bool numeric_ip(const std::string& s) {
    unsigned char buf[16];
    return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool port_number(const std::string& p, long min) {
    return !p.empty() && p.size() <= 5 && p.find_first_not_of("0123456789") == std::string::npos &&
           std::stol(p) >= min && std::stol(p) <= 65535;
}

bool host_chars(const std::string& s, const char* extra) {
    if (s.empty()) return false;
    for (unsigned char ch : s)
        if (!(std::isalnum(ch) || ch == '.' || ch == '-' || std::strchr(extra, ch))) return false;
    return true;
}

}  // namespace

// The values the binaries would refuse when they use them: the same rules
// as dns::Resolver (dns.upstream), outpost-milter's listener and runtime
// (milter.listen, milter.socket_mode, the host names and addresses it
// writes into messages) and outpost-trackd's listener (tracking.listen).
// tests/unit/test_config_validation.cpp holds each binary to them.
std::vector<ConfigProblem> validate_config(const Config& c) {
    std::vector<ConfigProblem> out;
    auto bad = [&](const char* key, const std::string& value, const std::string& why) {
        out.push_back({key, std::string(key) + " = '" + value + "' " + why});
    };
    if (const std::string& u = c.dns.upstream; !u.empty()) {
        const auto at = u.find('@');
        if (!numeric_ip(u.substr(0, at)) || (at != std::string::npos && !port_number(u.substr(at + 1), 1)))
            bad("dns.upstream", u,
                "is not ADDR or ADDR@PORT (a numeric IPv4 or IPv6 address, port 1-65535, e.g. "
                "127.0.0.1@5353); use \"\" to resolve recursively");
    }
    {
        const std::string& l = c.milter.listen;
        const auto colon = l.find(':');
        const std::string scheme = l.substr(0, colon), rest = colon == std::string::npos ? "" : l.substr(colon + 1);
        const char* fix = "; write unix:/PATH/TO/SOCKET or inet:PORT@ADDRESS, e.g. unix:/run/outpost/milter.sock";
        if (colon == std::string::npos)
            bad("milter.listen", l, std::string("has no socket type") + fix);
        else if (scheme == "unix" || scheme == "local") {
            if (rest.empty() || rest.front() != '/')
                bad("milter.listen", l, std::string("needs an absolute socket path") + fix);
            else if (rest.size() > 100)
                bad("milter.listen", l, "has a socket path too long for a unix socket (at most 100 bytes)");
        } else if (scheme == "inet" || scheme == "inet6") {
            const std::string port = rest.substr(0, rest.find('@'));
            char* end = nullptr;
            const long p = std::strtol(port.c_str(), &end, 10);
            if (port.empty() || *end || p < 1 || p > 65535)
                bad("milter.listen", l, std::string("needs a port 1 to 65535") + fix);
        } else {
            bad("milter.listen", l, "has an unknown socket type '" + scheme + "'" + fix);
        }
    }
    {
        const std::string& m = c.milter.socket_mode;
        char* end = nullptr;
        const long mode = std::strtol(m.c_str(), &end, 8);
        if (m.empty() || *end || mode < 0 || mode > 0777)
            bad("milter.socket_mode", m, "is not an octal mode such as \"0660\" (0 to 0777)");
    }
    {
        const std::string& t = c.tracking.listen;
        const char* fix = "; write ADDRESS:PORT, e.g. 127.0.0.1:8080 or [::1]:8080";
        const size_t colon = t.rfind(':');
        std::string host = colon == std::string::npos ? "" : t.substr(0, colon);
        const std::string port = colon == std::string::npos ? "" : t.substr(colon + 1);
        const bool bracketed = !host.empty() && host.front() == '[';
        if (colon == std::string::npos || colon == 0)
            bad("tracking.listen", t, std::string("has no port") + fix);
        else if (bracketed && (host.size() < 3 || host.back() != ']'))
            bad("tracking.listen", t, std::string("has unbalanced brackets") + fix);
        else if (!bracketed && host.find(':') != std::string::npos)
            bad("tracking.listen", t, std::string("needs brackets around its IPv6 address") + fix);
        else if (!port_number(port, 0))
            bad("tracking.listen", t, std::string("needs a port 0 to 65535 (0 picks a free one)") + fix);
        else {
            if (bracketed) host = host.substr(1, host.size() - 2);
            if (!numeric_ip(host.substr(0, host.find('%'))))
                bad("tracking.listen", t, "needs a numeric IP address, not '" + host + "'" + fix);
        }
    }
    if (!host_chars(c.tracking.host, ":"))
        bad("tracking.host", c.tracking.host,
            "is not a host name (letters, digits, '-', '.', an optional :PORT): it goes into https://HOST/u/...");
    if (!host_chars(c.relay.hostname, ""))
        bad("relay.hostname", c.relay.hostname, "is not a host name (letters, digits, '-' and '.')");
    {
        const std::string& m = c.milter.unsubscribe_mailto;
        if (m.empty() || m.find_first_of("<>?%&\"\\ \t\r\n,;") != std::string::npos || m.find('@') != m.rfind('@'))
            bad("milter.unsubscribe_mailto", m,
                "must be a local part (at relay.hostname) or one address, without spaces or <>?%&\",;\\");
    }
    {
        const std::string& r = c.milter.sandbox_recipient;
        const auto at = r.find('@');
        if (at == std::string::npos || at == 0 || at + 1 == r.size() ||
            r.find_first_of("<> \t\r\n,;\"") != std::string::npos)
            bad("milter.sandbox_recipient", r, "must be one address such as sandbox@relay.example.net");
    }
    if (c.store.stats_days < c.health.window_days)
        out.push_back({"store.stats_days", "store.stats_days (" + std::to_string(c.store.stats_days) +
                                               ") must be at least health.window_days (" +
                                               std::to_string(c.health.window_days) +
                                               "): the health check reads that many days of stats"});
    if (c.store.keys == c.store.path)
        out.push_back({"store.keys", "store.keys must differ from store.path ('" + c.store.path +
                                         "'): keys are kept apart from the shared store"});
    return out;
}

namespace {

}  // namespace

Config default_config() {
    Config c;
    c.source = "(built-in defaults)";
    for (const auto& p : params()) {
        YAML::Node n = YAML::Load(p.def);
        p.set(c, convert(p, n, Where{"(built-in default)", n.Mark()}));
    }
    return c;
}

Config parse_config(const std::string& text, const std::string& origin) {
    Config c = default_config();
    c.source = origin;
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::ParserException& e) {
        // Nothing after a syntax error can be read: this one problem.
        throw ConfigError({PlacedError(Where{origin, e.mark}, "YAML syntax: " + e.msg).what()});
    }
    if (root.IsNull()) return c;
    if (!root.IsMap())
        throw ConfigError(
            {PlacedError(Where{origin, root.Mark()}, "the file must be a YAML mapping of sections").what()});
    std::set<std::string> seen;
    Problems problems;
    walk(c, root, "", origin, seen, problems);
    for (const auto& p : validate_config(c)) {
        auto w = problems.where.find(p.key);
        const Where at = w != problems.where.end() ? w->second : Where{origin, YAML::Mark::null_mark()};
        problems.add(PlacedError(at, p.message));
    }
    if (!problems.found.empty()) throw ConfigError(problems.lines());
    return c;
}

Config load_config_file(const std::string& path) {
    std::ifstream in(path);
    if (!in)
        throw Error(Exit::config, "",
                    path + ": cannot read the configuration file; check the path or pass --config");
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_config(ss.str(), path);
}

Config load_config(const std::string& cli_path) {
    if (!cli_path.empty()) return load_config_file(cli_path);
    if (const char* env = std::getenv("OUTPOST_CONFIG"); env && *env) return load_config_file(env);
    struct stat st {};
    if (::stat(kDefaultConfigPath, &st) != 0) return default_config();
    return load_config_file(kDefaultConfigPath);
}

std::vector<std::string> example_values_left(const Config& c) {
    const Config d = default_config();
    std::vector<std::string> out;
    auto left = [&](bool same, const std::string& key, const std::string& value, const std::string& what) {
        if (same) out.push_back(key + " is still the example's " + value + ": set it to " + what);
    };
    left(c.relay.hostname == d.relay.hostname, "relay.hostname", d.relay.hostname, "this relay's host name");
    left(c.relay.ips == d.relay.ips, "relay.ips", "[192.0.2.10, 2001:db8::10]",
         "the addresses this relay sends from");
    left(c.relay.spf_include == d.relay.spf_include, "relay.spf_include", d.relay.spf_include,
         "the name whose SPF record lists relay.ips (`outpostctl relay records` prints it)");
    left(c.relay.bounce_host == d.relay.bounce_host, "relay.bounce_host", d.relay.bounce_host,
         "the host that receives bounces for the domains' MAIL FROM subdomains");
    left(c.tracking.host == d.tracking.host, "tracking.host", d.tracking.host,
         "the host name of outpost-trackd behind its TLS proxy");
    left(c.milter.sandbox_recipient == d.milter.sandbox_recipient, "milter.sandbox_recipient",
         d.milter.sandbox_recipient, "a mailbox for sandbox keys' mail");
    return out;
}

std::string example_config() {
    std::ostringstream o;
    o << "# outpost.yaml - every parameter, with its default.\n"
         "# Generated by `outpostctl config example` from the parameter table in\n"
         "# config/config.cpp; the loader rejects unknown keys, wrong types and\n"
         "# out-of-range values with FILE:LINE:COL.\n";
    std::vector<std::string> open;  // currently open section path
    for (const auto& p : params()) {
        std::vector<std::string> parts;
        std::string k = p.key, cur;
        for (char ch : k) {
            if (ch == '.') {
                parts.push_back(cur);
                cur.clear();
            } else
                cur += ch;
        }
        const std::string leaf = cur;
        size_t common = 0;
        while (common < open.size() && common < parts.size() && open[common] == parts[common]) ++common;
        open.resize(common);
        for (size_t i = common; i < parts.size(); ++i) {
            if (i == 0) o << '\n';
            o << std::string(2 * i, ' ') << parts[i] << ":\n";
            open.push_back(parts[i]);
        }
        const std::string indent(2 * parts.size(), ' ');
        o << indent << "# " << p.doc;
        if (p.type == Type::choice || (p.type == Type::list && *p.choices)) o << " (" << p.choices << ")";
        o << '\n' << indent << leaf << ": " << p.def << '\n';
    }
    return o.str();
}

}  // namespace outpost
