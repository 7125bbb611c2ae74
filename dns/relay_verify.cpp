// relay_verify.cpp - the relay's own records against DNS (relay_verify.h).
#include "dns/relay_verify.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <set>
#include <tuple>

#include "dns/records.h"
#include "dns/resolver.h"
#include "dns/spf.h"
#include "dns/verify.h"

namespace outpost {
namespace {

using dns::Answer;
using dns::RRType;

// The same address, whatever its spelling (2001:db8::10 = 2001:DB8:0::10).
bool same_ip(const std::string& a, const std::string& b) {
    std::array<unsigned char, 16> x{}, y{};
    for (int af : {AF_INET, AF_INET6})
        if (inet_pton(af, a.c_str(), x.data()) == 1 && inet_pton(af, b.c_str(), y.data()) == 1) return x == y;
    return a == b;
}

}  // namespace

RelayVerification verify_relay(const Config& cfg) {
    const auto records = relay_records(cfg);
    dns::Resolver resolver(dns::resolver_options(cfg));
    dns::DnsCache cache;

    // 1. Every name, in one batch.
    std::set<dns::Query> wanted;
    for (const auto& r : records)
        wanted.insert({r.host, r.type == "TXT" ? RRType::TXT : r.type == "A" ? RRType::A : RRType::AAAA});
    for (const auto& a : resolver.resolve(std::vector<dns::Query>(wanted.begin(), wanted.end()))) cache.put(a);
    auto answer = [&](const std::string& name, RRType t) -> const Answer& {
        static const Answer none;
        const Answer* a = cache.find({name, t});
        return a ? *a : none;
    };

    RelayVerification out;
    // 2. SPF at relay.spf_include.
    {
        const std::string& name = cfg.relay.spf_include;
        const std::string expected = records.front().value;  // relay_records: the SPF record first
        CheckResult c;
        c.name = "relay-spf";
        c.host = name;
        c.expected = expected;
        c.required = true;
        const std::string publish = "publish TXT " + name + " " + dq(expected) +
                                    " (once, for every domain: see `outpostctl relay records`)";
        const Answer& a = answer(name, RRType::TXT);
        note_dnssec(c, a);
        auto recs = dns::spf_records(a.ok() ? a.values : std::vector<std::string>{});
        std::sort(recs.begin(), recs.end());
        if (a.failed()) {
            c.status = CheckStatus::error;
            c.found = dns_failure(a);
            c.hint = dns_error_hint(a, "outpostctl relay verify");
        } else if (recs.empty()) {
            c.status = CheckStatus::missing;
            c.found = a.ok() ? "no v=spf1 record among " + std::to_string(a.values.size()) + " TXT records"
                             : std::string("no TXT record (") + dns::to_string(a.rcode) + ")";
            c.found += decoration(a);
            c.hint = publish;
        } else if (recs.size() > 1) {
            c.status = CheckStatus::mismatch;
            c.found = std::to_string(recs.size()) + " SPF records: " + dq(joined(recs, "\" | \"")) + decoration(a);
            c.hint = name + " has " + std::to_string(recs.size()) +
                     " v=spf1 records, which makes SPF a permerror for every domain that includes it; keep "
                     "one: " + publish;
        } else {
            std::vector<std::string> ips, skipped;
            for (const auto& ip : cfg.relay.ips) (dns::is_loopback_ip(ip) ? skipped : ips).push_back(ip);
            std::vector<dns::SpfQuestion> qs;
            for (const auto& ip : ips) qs.push_back({name, ip});
            dns::SpfEvaluator spf(resolver, cache, cfg.relay.hostname);
            const auto outcomes = spf.evaluate(qs);
            std::vector<std::string> per_ip;
            bool all_pass = true, temp = false;
            std::string perm;
            for (size_t i = 0; i < ips.size(); ++i) {
                const auto& o = outcomes[i];
                per_ip.push_back(ips[i] + ": " + o.result +
                                 (o.result != "pass" && !o.explanation.empty() ? " (" + o.explanation + ")" : ""));
                if (o.result != "pass") all_pass = false;
                if (o.result == "temperror") temp = true;
                if (o.result == "permerror") perm = o.explanation;
            }
            c.found = dq(recs.front()) + (per_ip.empty() ? "" : "; " + joined(per_ip, "; "));
            if (!skipped.empty()) c.found += "; not checked (loopback): " + joined(skipped, ", ");
            c.found += decoration(a);
            if (ips.empty()) {
                c.status = CheckStatus::error;
                c.hint = "relay.ips lists no address SPF can check (loopback addresses always pass); list the "
                         "relay's public addresses in relay.ips";
            } else if (all_pass) {
                c.status = CheckStatus::ok;
            } else if (temp && perm.empty()) {
                c.status = CheckStatus::error;
                c.hint = "a DNS look-up needed by the SPF evaluation failed (temperror); nothing was "
                         "concluded: run `outpostctl relay verify` again later";
            } else {
                c.status = CheckStatus::mismatch;
                c.hint = (perm.empty() ? "the record does not authorize every address of relay.ips; replace it: "
                                       : "SPF permerror (" + perm + "); replace it: ") +
                         "TXT " + name + " " + dq(expected);
            }
        }
        out.checks.push_back(std::move(c));
    }
    // 3. Address records, one check per (purpose, host, type).
    std::map<std::tuple<std::string, std::string, std::string>, std::vector<const DnsRecord*>> groups;
    std::vector<std::tuple<std::string, std::string, std::string>> order;
    for (const auto& r : records) {
        if (r.type != "A" && r.type != "AAAA") continue;
        auto k = std::make_tuple(r.purpose, r.host, r.type);
        if (!groups.count(k)) order.push_back(k);
        groups[k].push_back(&r);
    }
    for (const auto& k : order) {
        const auto& [purpose, host, type] = k;
        const auto& want = groups[k];
        CheckResult c;
        c.name = purpose + ":" + type;
        c.host = host;
        c.required = want.front()->required;
        std::vector<std::string> ips;
        for (const auto* r : want) ips.push_back(r->value);
        c.expected = joined(ips, ", ");
        const Answer& a = answer(host, type == "A" ? RRType::A : RRType::AAAA);
        note_dnssec(c, a);
        const std::string optional = c.required ? "" : " (optional: " + want.front()->note + ")";
        if (a.failed()) {
            c.status = CheckStatus::error;
            c.found = dns_failure(a);
            c.hint = dns_error_hint(a, "outpostctl relay verify");
        } else {
            std::vector<std::string> missing;
            for (const auto& ip : ips)
                if (std::none_of(a.values.begin(), a.values.end(), [&](const std::string& v) { return same_ip(v, ip); }))
                    missing.push_back(ip);
            c.found = a.ok() && !a.values.empty() ? joined(a.values, ", ") + decoration(a)
                                                   : std::string("no ") + type + " record (" +
                                                         dns::to_string(a.rcode) + ")" + decoration(a);
            if (missing.empty()) {
                c.status = CheckStatus::ok;
            } else {
                c.status = a.ok() && !a.values.empty() ? CheckStatus::mismatch : CheckStatus::missing;
                std::vector<std::string> publish;
                for (const auto& ip : missing) publish.push_back(type + " " + host + " " + ip);
                c.hint = "publish " + joined(publish, " and ") + optional;
            }
        }
        out.checks.push_back(std::move(c));
    }
    out.verified = std::all_of(out.checks.begin(), out.checks.end(),
                               [](const CheckResult& c) { return !c.required || check_passes(c.status); });
    return out;
}

}  // namespace outpost
