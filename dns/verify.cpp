// verify.cpp - the checks, the status machine, rotation, and saving a run.
#include "dns/verify.h"
#include "dns/verify_child.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "dns/dkim_keys.h"
#include "dns/domain_name.h"
#include "dns/records.h"
#include "dns/spf.h"
#include "store/store.h"

namespace outpost {

using dns::Answer;
using dns::Query;
using dns::RRType;

// ---- answer text, shared with relay verification (dns/verify.h) ----

std::string dq(const std::string& s) {
    return "\"" + s + "\"";
}

std::string joined(const std::vector<std::string>& v, const std::string& sep) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
    return s;
}

std::string dns_failure(const Answer& a) {
    std::string s = std::string("DNS ") + dns::to_string(a.rcode);
    if (!a.why.empty()) s += " (" + a.why + ")";
    return s;
}

std::string dns_error_hint(const Answer& a, const std::string& rerun) {
    return "the look-up of " + std::string(dns::to_string(a.query.type)) + " " + a.query.name + " failed (" +
           (a.why.empty() ? dns::to_string(a.rcode) : a.why) +
           "); nothing was concluded about this record: run `" + rerun + "` again later, "
           "or check dns.upstream";
}

// " [via CNAME a -> b] [DNSSEC secure]" decorations for `found`.
std::string decoration(const Answer& a) {
    std::string s;
    if (a.chain.size() > 1) s += " [via CNAME " + a.chain_text() + "]";
    if (a.dnssec != dns::Dnssec::unchecked) s += std::string(" [DNSSEC ") + dns::to_string(a.dnssec) + "]";
    return s;
}

void note_dnssec(CheckResult& c, const std::string& st) {
    if (st.empty()) return;
    auto rank = [](const std::string& x) { return x == "bogus" ? 0 : x == "insecure" ? 1 : 2; };
    if (c.dnssec.empty() || rank(st) < rank(c.dnssec)) c.dnssec = st;
}
void note_dnssec(CheckResult& c, const Answer& a) {
    if (a.dnssec != dns::Dnssec::unchecked) note_dnssec(c, dns::to_string(a.dnssec));
}

namespace {

const std::string kRerun = "outpostctl domain verify";

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string trim(const std::string& s) {
    const char* ws = " \t\r\n";
    auto b = s.find_first_not_of(ws);
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

std::string strip_dot(std::string s) {
    if (!s.empty() && s.back() == '.') s.pop_back();
    return lower(s);
}

// tag=value pairs of a DKIM or DMARC record, in order; false on a
// malformed or duplicated tag.
bool tag_list(const std::string& txt, std::vector<std::pair<std::string, std::string>>& out,
              std::string& error) {
    std::set<std::string> seen;
    std::string part;
    std::istringstream in(txt);
    while (std::getline(in, part, ';')) {
        part = trim(part);
        if (part.empty()) continue;  // "a=b;" and ";;" are allowed
        auto eq = part.find('=');
        if (eq == std::string::npos || eq == 0) {
            error = "'" + part + "' is not tag=value";
            return false;
        }
        std::string tag = trim(part.substr(0, eq));
        if (!seen.insert(tag).second) {
            error = "tag " + tag + "= appears twice";
            return false;
        }
        out.emplace_back(tag, trim(part.substr(eq + 1)));
    }
    return true;
}

std::vector<std::string> colon_list(const std::string& v) {
    std::vector<std::string> out;
    std::string item;
    std::istringstream in(v);
    while (std::getline(in, item, ':'))
        if (!(item = trim(item)).empty()) out.push_back(lower(item));
    return out;
}

bool required_check(const Config& cfg, const std::string& check) {
    return std::find(cfg.verify.required.begin(), cfg.verify.required.end(), check) !=
           cfg.verify.required.end();
}

bool has_active(const Domain& d) {
    return std::any_of(d.selectors.begin(), d.selectors.end(),
                       [](const Selector& s) { return s.state == SelectorState::active; });
}

// Whether a selector's check decides the domain's status: the selectors
// the milter signs with, or, before the first verification, the pending
// ones that will.
bool selector_required(const Domain& d, const Selector& s) {
    return s.state == SelectorState::active || (s.state == SelectorState::pending && !has_active(d));
}

// Records in c.dnssec the weakest DNSSEC state of the answers a check read
// (bogus < insecure < secure); unchecked answers (no trust anchor) add nothing.

CheckResult check_dkim(const Domain& d, const Selector& s, const Answer& a) {
    CheckResult c;
    note_dnssec(c, a);
    c.name = "dkim:" + s.name;
    c.host = s.name + "._domainkey." + d.name;
    c.expected = dkim_txt_value(s.algorithm, s.public_key);
    const std::string publish = "publish TXT " + c.host + " " + dq(c.expected) +
                                " (split into 255-byte strings: `outpostctl domain records " + d.name +
                                " --format bind`)";
    if (a.failed()) {
        c.status = CheckStatus::error;
        c.found = dns_failure(a);
        c.hint = dns_error_hint(a, kRerun);
        return c;
    }
    if (a.absent() || a.values.empty()) {
        c.status = CheckStatus::missing;
        c.found = std::string("no TXT record (") + dns::to_string(a.rcode) + ")" + decoration(a);
        c.hint = publish;
        return c;
    }
    c.found = joined(a.values, " | ") + decoration(a);
    if (a.values.size() > 1) {
        c.status = CheckStatus::mismatch;
        c.hint = c.host + " has " + std::to_string(a.values.size()) +
                 " TXT records, so receivers may pick any of them; keep only one: " + publish;
        return c;
    }
    const DkimKeyRecord r = parse_dkim_record(a.values.front());
    const std::string want_k = to_string(s.algorithm);
    c.status = CheckStatus::mismatch;
    if (!r.valid) {
        c.hint = "the record is not a DKIM key record (" + r.error + "); replace it: " + publish;
    } else if (r.revoked) {
        c.hint = "the key is revoked (p= is empty); " + publish;
    } else if (r.key_type != want_k) {
        c.hint = "k=" + r.key_type + " but the selector's key is " + want_k + "; " + publish;
    } else if (r.public_key != s.public_key) {
        c.hint = "p= holds a different public key than outpost signs with; " + publish;
    } else if (!r.hashes.empty() && std::find(r.hashes.begin(), r.hashes.end(), "sha256") == r.hashes.end()) {
        c.hint = "h=" + joined(r.hashes, ":") + " excludes sha256, which outpost signs with; " + publish;
    } else if (!r.services.empty() &&
               std::find(r.services.begin(), r.services.end(), "*") == r.services.end() &&
               std::find(r.services.begin(), r.services.end(), "email") == r.services.end()) {
        c.hint = "s=" + joined(r.services, ":") + " does not allow email; " + publish;
    } else {
        c.status = CheckStatus::ok;
        std::vector<std::string> notes;
        if (r.testing)
            notes.push_back(
                "t=y (testing): receivers treat failing signatures as unsigned; remove t=y once "
                "signing works: " +
                publish);
        if (!r.unknown_tags.empty())
            notes.push_back("unknown tags " + joined(r.unknown_tags, ", ") +
                            " are ignored by receivers; remove them if they are typos");
        if (!notes.empty()) {
            c.status = CheckStatus::warn;
            c.hint = joined(notes, "; ");
        }
    }
    return c;
}

}  // namespace

DkimKeyRecord parse_dkim_record(const std::string& txt) {
    DkimKeyRecord r;
    std::vector<std::pair<std::string, std::string>> tags;
    if (!tag_list(txt, tags, r.error)) return r;
    bool have_p = false;
    for (size_t i = 0; i < tags.size(); ++i) {
        const auto& [tag, value] = tags[i];
        if (tag == "v") {
            if (i != 0) {
                r.error = "v= must be the first tag";
                return r;
            }
            if (value != "DKIM1") {
                r.error = "v=" + value + " is not DKIM1";
                return r;
            }
        } else if (tag == "k") {
            r.key_type = lower(value);
        } else if (tag == "p") {
            have_p = true;
            for (char ch : value)
                if (!std::isspace(static_cast<unsigned char>(ch))) r.public_key += ch;
            r.revoked = r.public_key.empty();
        } else if (tag == "t") {
            for (const auto& f : colon_list(value))
                if (f == "y") r.testing = true;
        } else if (tag == "h") {
            r.hashes = colon_list(value);
        } else if (tag == "s") {
            r.services = colon_list(value);
        } else if (tag == "n" || tag == "g") {
            // notes; g= is RFC 4871's granularity, harmless
        } else {
            r.unknown_tags.push_back(tag + "=");
        }
    }
    if (!have_p) {
        r.error = "it has no p= tag";
        return r;
    }
    r.valid = true;
    return r;
}

std::vector<std::string> dmarc_records(const std::vector<std::string>& txt) {
    std::vector<std::string> out;
    for (const auto& t : txt) {
        std::vector<std::pair<std::string, std::string>> tags;
        std::string err;
        if (tag_list(t, tags, err) && !tags.empty() && tags[0].first == "v" && tags[0].second == "DMARC1")
            out.push_back(t);
        else if (t.rfind("v=DMARC1", 0) == 0)
            out.push_back(t);  // malformed, but meant as DMARC: report it
    }
    return out;
}

DmarcRecord parse_dmarc_record(const std::string& txt) {
    DmarcRecord r;
    std::vector<std::pair<std::string, std::string>> tags;
    if (!tag_list(txt, tags, r.error)) return r;
    if (tags.empty() || tags[0].first != "v" || tags[0].second != "DMARC1") {
        r.error = "it does not start with v=DMARC1";
        return r;
    }
    for (const auto& [tag, value] : tags) {
        if (tag == "p") r.policy = lower(value);
        if (tag == "sp") r.subdomain_policy = lower(value);
    }
    auto ok = [](const std::string& p) { return p == "none" || p == "quarantine" || p == "reject"; };
    if (r.policy.empty()) {
        r.error = "it has no p= tag";
        return r;
    }
    if (!ok(r.policy)) {
        r.error = "p=" + r.policy + " is not none, quarantine or reject";
        return r;
    }
    if (!r.subdomain_policy.empty() && !ok(r.subdomain_policy)) {
        r.error = "sp=" + r.subdomain_policy + " is not none, quarantine or reject";
        return r;
    }
    r.valid = true;
    return r;
}

bool check_passes(CheckStatus s) {
    return s == CheckStatus::ok || s == CheckStatus::warn;
}

Verifier::Verifier(const Config& cfg) : cfg_(cfg), resolver_(dns::resolver_options(cfg)) {}

std::vector<DomainVerification> Verifier::check(const std::vector<Domain>& domains) {
    const std::string mf_label = cfg_.records.mailfrom, tr_label = cfg_.records.tracking;
    auto dmarc_org = [](const Domain& d) {
        std::string org = organizational_domain(d.name);
        return org == d.name ? std::string() : org;
    };

    // 1. Every record of every domain, in one batch.
    std::set<Query> wanted;
    for (const auto& d : domains) {
        for (const auto& s : d.selectors)
            if (s.state != SelectorState::retired)
                wanted.insert({s.name + "._domainkey." + d.name, RRType::TXT});
        wanted.insert({d.name, RRType::TXT});
        wanted.insert({"_dmarc." + d.name, RRType::TXT});
        if (auto org = dmarc_org(d); !org.empty()) wanted.insert({"_dmarc." + org, RRType::TXT});
        wanted.insert({mf_label + "." + d.name, RRType::MX});
        wanted.insert({mf_label + "." + d.name, RRType::TXT});
        wanted.insert({tr_label + "." + d.name, RRType::CNAME});
    }
    // The relay's own record, which every domain's SPF includes: when it is
    // missing, the advice is to publish it, not to count look-ups.
    if (!cfg_.relay.spf_include.empty()) wanted.insert({cfg_.relay.spf_include, RRType::TXT});
    std::vector<Query> batch;
    for (const auto& q : wanted)
        if (!cache_.find(q)) batch.push_back(q);
    for (const auto& a : resolver_.resolve(batch)) cache_.put(a);
    auto answer = [&](const std::string& name, RRType t) -> const Answer& {
        const Answer* a = cache_.find({name, t});
        static const Answer none;
        return a ? *a : none;
    };

    // 2. SPF: every (domain, relay address) with one SPF record, together.
    std::vector<std::string> ips, skipped_ips;
    for (const auto& ip : cfg_.relay.ips) (dns::is_loopback_ip(ip) ? skipped_ips : ips).push_back(ip);
    std::vector<dns::SpfQuestion> questions;
    std::map<std::string, size_t> first_question;  // SPF domain -> index of its first question
    auto ask_spf = [&](const std::string& name) {
        const Answer& a = answer(name, RRType::TXT);
        if (!a.ok() || dns::spf_records(a.values).size() != 1 || first_question.count(name)) return;
        first_question[name] = questions.size();
        for (const auto& ip : ips) questions.push_back({name, ip});
    };
    for (const auto& d : domains) {
        ask_spf(d.name);
        ask_spf(mf_label + "." + d.name);
    }
    dns::SpfEvaluator spf(resolver_, cache_, cfg_.relay.hostname);
    const auto outcomes = spf.evaluate(questions);
    spf_rounds_ = spf.rounds();

    // SPF verdict for a name: status, found text (per address), hint.
    struct SpfVerdict {
        CheckStatus status;
        std::string found, hint;
    };
    auto spf_verdict = [&](const std::string& name, const std::string& record) -> SpfVerdict {
        const std::string ours = spf_record(record, cfg_.relay.spf_include);
        if (ips.empty())
            return {CheckStatus::error, record,
                    "relay.ips lists no address SPF can check (loopback addresses always pass); list the "
                    "relay's public addresses in relay.ips"};
        const size_t base = first_question.at(name);
        std::vector<std::string> per_ip;
        bool all_pass = true, temp = false, perm = false;
        std::string perm_why;
        for (size_t i = 0; i < ips.size(); ++i) {
            const auto& o = outcomes[base + i];
            per_ip.push_back(
                ips[i] + ": " + o.result +
                (o.result != "pass" && !o.explanation.empty() ? " (" + o.explanation + ")" : ""));
            if (o.result != "pass") all_pass = false;
            if (o.result == "temperror") temp = true;
            if (o.result == "permerror") {
                perm = true;
                perm_why = o.explanation;
            }
        }
        std::string found = dq(record) + "; " + joined(per_ip, "; ");
        if (!skipped_ips.empty()) found += "; not checked (loopback): " + joined(skipped_ips, ", ");
        if (all_pass) return {CheckStatus::ok, found, ""};
        if (temp && !perm &&
            std::all_of(
                outcomes.begin() + static_cast<long>(base),
                outcomes.begin() + static_cast<long>(base + ips.size()),
                [](const dns::SpfOutcome& o) { return o.result == "pass" || o.result == "temperror"; }))
            return {
                CheckStatus::error, found,
                "a DNS look-up needed by the SPF evaluation failed (temperror); nothing was concluded: run "
                "`outpostctl domain verify` again later"};
        std::string hint;
        const Answer& inc = answer(cfg_.relay.spf_include, RRType::TXT);
        const bool include_missing = dns::spf_has_include(record, cfg_.relay.spf_include) && !inc.failed() &&
                                     dns::spf_records(inc.values).empty();
        if (include_missing)
            hint = cfg_.relay.spf_include +
                   " has no SPF record; the relay operator publishes it once: see `outpostctl relay records`";
        else if (perm)
            hint =
                "SPF permerror (" + perm_why +
                "): receivers reject the record as a whole. RFC 7208 allows at "
                "most 10 DNS-querying terms (include, a, mx, ptr, exists, redirect) in total: replace nested "
                "include:s with ip4:/ip6: ranges, then publish TXT " +
                name + " " + dq(ours);
        else if (ours != record)
            hint = "replace TXT " + name + " " + dq(record) + " with " + dq(ours);
        else
            hint = "the record includes " + cfg_.relay.spf_include +
                   " but the relay is still not authorized; "
                   "put include:" +
                   cfg_.relay.spf_include + " before any all or redirect= term of TXT " + name;
        return {CheckStatus::mismatch, found, hint};
    };
    // The SPF check of one name (the domain, or its MAIL FROM subdomain).
    auto spf_check = [&](CheckResult& c, const std::string& name, std::string* existing, bool* known) {
        const Answer& a = answer(name, RRType::TXT);
        note_dnssec(c, a);
        const std::string fresh = spf_record("", cfg_.relay.spf_include);
        c.expected = fresh;
        if (a.failed()) {
            c.status = CheckStatus::error;
            c.found = dns_failure(a);
            c.hint = dns_error_hint(a, kRerun);
            return;
        }
        if (known) *known = true;
        auto recs = dns::spf_records(a.ok() ? a.values : std::vector<std::string>{});
        // DNS returns an RRset in any order: sort, so the advice is stable.
        std::sort(recs.begin(), recs.end());
        if (recs.empty()) {
            c.status = CheckStatus::missing;
            c.found = a.ok() ? "no v=spf1 record among " + std::to_string(a.values.size()) + " TXT records"
                             : std::string("no TXT record (") + dns::to_string(a.rcode) + ")";
            c.hint = "publish TXT " + name + " " + dq(fresh);
            if (existing) existing->clear();
            return;
        }
        if (recs.size() > 1) {
            const std::string merged = dns::merge_spf_records(recs, cfg_.relay.spf_include);
            c.status = CheckStatus::mismatch;
            c.found = std::to_string(recs.size()) + " SPF records: " + dq(joined(recs, "\" | \""));
            c.expected = merged;
            c.hint = name + " has " + std::to_string(recs.size()) +
                     " v=spf1 records, which makes SPF a permerror for every receiver; remove them all and "
                     "publish this one instead: TXT " +
                     name + " " + dq(merged);
            if (existing) *existing = merged;
            return;
        }
        c.expected = spf_record(recs.front(), cfg_.relay.spf_include);
        if (existing)
            *existing = dns::spf_has_include(recs.front(), cfg_.relay.spf_include) ? "" : recs.front();
        const SpfVerdict v = spf_verdict(name, recs.front());
        c.status = v.status;
        c.found = v.found + decoration(a);
        c.hint = v.hint;
    };

    // 3. The checks, domain by domain.
    std::vector<DomainVerification> out;
    out.reserve(domains.size());
    for (const auto& d : domains) {
        DomainVerification v;
        v.domain = d.name;
        for (const auto& s : d.selectors) {
            if (s.state == SelectorState::retired) continue;
            CheckResult c = check_dkim(d, s, answer(s.name + "._domainkey." + d.name, RRType::TXT));
            c.required = required_check(cfg_, "dkim") && selector_required(d, s);
            v.checks.push_back(std::move(c));
        }

        {
            CheckResult c;
            c.name = "spf";
            c.host = d.name;
            spf_check(c, d.name, &v.existing_spf, &v.spf_known);
            c.required = required_check(cfg_, "spf");
            v.checks.push_back(std::move(c));
        }

        {
            CheckResult c;
            c.name = "dmarc";
            c.host = "_dmarc." + d.name;
            c.expected = "v=DMARC1; p=" + d.dmarc_policy + (d.rua.empty() ? "" : "; rua=mailto:" + d.rua);
            c.required = required_check(cfg_, "dmarc");
            const std::string publish = "publish TXT " + c.host + " " + dq(c.expected);
            const Answer& own = answer(c.host, RRType::TXT);
            const std::string org = dmarc_org(d);
            const Answer* org_a = org.empty() ? nullptr : &answer("_dmarc." + org, RRType::TXT);
            note_dnssec(c, own);
            if (org_a && !own.ok()) note_dnssec(c, *org_a);
            const auto own_recs = dmarc_records(own.ok() ? own.values : std::vector<std::string>{});
            auto judge = [&](const std::string& rec, bool inherited, const Answer& from) {
                const DmarcRecord r = parse_dmarc_record(rec);
                c.found =
                    (inherited ? "inherited from _dmarc." + org + ": " : "") + dq(rec) + decoration(from);
                if (!r.valid) {
                    c.status = CheckStatus::mismatch;
                    c.hint = "the DMARC record is invalid (" + r.error + "); " +
                             (inherited ? "fix it at _dmarc." + org + " or " : "") + publish;
                    return;
                }
                const std::string p =
                    inherited && !r.subdomain_policy.empty() ? r.subdomain_policy : r.policy;
                c.found += " (policy " + p + ")";
                if (p == "none") {
                    c.status = CheckStatus::warn;
                    c.hint =
                        "p=none: receivers report but take no action on mail that fails DMARC; move to "
                        "p=quarantine or p=reject once the reports look clean";
                } else {
                    c.status = CheckStatus::ok;
                }
            };
            if (own.failed()) {
                c.status = CheckStatus::error;
                c.found = dns_failure(own);
                c.hint = dns_error_hint(own, kRerun);
            } else if (own_recs.size() > 1) {
                c.status = CheckStatus::mismatch;
                c.found =
                    std::to_string(own_recs.size()) + " DMARC records: " + dq(joined(own_recs, "\" | \""));
                c.hint = "receivers ignore DMARC when there are several records; keep only one: " + publish;
            } else if (own_recs.size() == 1) {
                judge(own_recs.front(), false, own);
            } else if (org_a && org_a->failed()) {
                c.status = CheckStatus::error;
                c.found = "none at " + c.host + "; _dmarc." + org + ": " + dns_failure(*org_a);
                c.hint = dns_error_hint(*org_a, kRerun);
            } else if (const auto org_recs =
                           dmarc_records(org_a && org_a->ok() ? org_a->values : std::vector<std::string>{});
                       org_recs.size() == 1) {
                judge(org_recs.front(), true, *org_a);
            } else {
                c.status = CheckStatus::missing;
                c.found = "no v=DMARC1 record at " + c.host + (org.empty() ? "" : " nor at _dmarc." + org);
                c.hint = publish;
            }
            v.checks.push_back(std::move(c));
        }

        {
            CheckResult c;
            c.name = "mailfrom";
            c.host = mf_label + "." + d.name;
            c.required = required_check(cfg_, "mailfrom");
            const std::string mx_want = "10 " + cfg_.relay.bounce_host;
            const std::string publish = "publish MX " + c.host + " " + mx_want + ". and TXT " + c.host + " " +
                                        dq(spf_record("", cfg_.relay.spf_include));
            const Answer& mx = answer(c.host, RRType::MX);
            note_dnssec(c, mx);
            c.expected = "MX " + mx_want + "; TXT " + spf_record("", cfg_.relay.spf_include);
            const std::string bounce = strip_dot(cfg_.relay.bounce_host);
            const bool mx_ok =
                mx.ok() && std::any_of(mx.values.begin(), mx.values.end(), [&](const std::string& v) {
                    auto sp = v.find(' ');
                    return strip_dot(sp == std::string::npos ? v : v.substr(sp + 1)) == bounce;
                });
            if (mx.failed()) {
                c.status = CheckStatus::error;
                c.found = dns_failure(mx);
                c.hint = dns_error_hint(mx, kRerun);
            } else if (!mx.ok()) {
                c.status = CheckStatus::missing;
                c.found = std::string("no MX record (") + dns::to_string(mx.rcode) + ")";
                c.hint = publish + " (optional: enables VERP bounce handling)";
            } else if (!mx_ok) {
                c.status = CheckStatus::mismatch;
                c.found = "MX " + joined(mx.values, ", ");
                c.hint = "point the MX at the relay: " + publish;
            } else {
                CheckResult s;
                spf_check(s, c.host, nullptr, nullptr);
                note_dnssec(c, s.dnssec);
                c.status = s.status;
                c.found = "MX " + joined(mx.values, ", ") + "; SPF " + s.found;
                c.hint = s.hint;
            }
            v.checks.push_back(std::move(c));
        }

        {
            CheckResult c;
            c.name = "tracking";
            c.host = tr_label + "." + d.name;
            c.expected = cfg_.tracking.host;
            c.required = required_check(cfg_, "tracking");
            const std::string publish = "publish CNAME " + c.host + " " + cfg_.tracking.host + ".";
            const Answer& a = answer(c.host, RRType::CNAME);
            note_dnssec(c, a);
            if (a.failed()) {
                c.status = CheckStatus::error;
                c.found = dns_failure(a);
                c.hint = dns_error_hint(a, kRerun);
            } else if (!a.ok()) {
                c.status = CheckStatus::missing;
                c.found = std::string("no CNAME record (") + dns::to_string(a.rcode) + ")";
                c.hint = publish + " (optional: branded tracking and unsubscribe links)";
            } else if (strip_dot(a.values.front()) != strip_dot(cfg_.tracking.host)) {
                c.status = CheckStatus::mismatch;
                c.found = "CNAME " + a.values.front();
                c.hint = "replace it: " + publish;
            } else {
                c.status = CheckStatus::ok;
                c.found = "CNAME " + a.values.front() + decoration(a);
            }
            v.checks.push_back(std::move(c));
        }
        out.push_back(std::move(v));
    }
    return out;
}

Transition apply_verification(Domain& d, const DomainVerification& v, const Config& cfg, int64_t now) {
    Transition t;
    t.from = d.status;
    std::map<std::string, const CheckResult*> by_name;
    for (const auto& c : v.checks) by_name[c.name] = &c;
    auto selector_passes = [&](const Selector& s) {
        auto it = by_name.find("dkim:" + s.name);
        return it != by_name.end() && check_passes(it->second->status);
    };
    auto promote = [&](Selector& s) {
        s.state = SelectorState::active;
        s.activated_at = now;
        t.activated.push_back(s.name);
    };

    // Rotation: a verified pending selector takes over from the active
    // selectors of its algorithm, which stay published as retiring.
    if (has_active(d)) {
        std::set<KeyAlgorithm> rotated;
        std::vector<std::string> fresh;
        for (auto& s : d.selectors)
            if (s.state == SelectorState::pending && selector_passes(s)) {
                promote(s);
                rotated.insert(s.algorithm);
                fresh.push_back(s.name);
            }
        for (auto& s : d.selectors)
            if (s.state == SelectorState::active && rotated.count(s.algorithm) &&
                std::find(fresh.begin(), fresh.end(), s.name) == fresh.end()) {
                s.state = SelectorState::retiring;
                t.retiring.push_back(s.name);
            }
    }

    // Which checks decide, judged on the selectors as they are now.
    std::vector<CheckResult> checks = v.checks;
    for (auto& c : checks) {
        if (c.name.rfind("dkim:", 0) == 0) {
            const Selector* s = d.find_selector(c.name.substr(5));
            c.required = s && required_check(cfg, "dkim") && selector_required(d, *s);
        } else {
            c.required = required_check(cfg, c.name);
        }
    }
    bool broken = false, unknown = false;
    for (const auto& c : checks) {
        if (!c.required) continue;
        if (c.status == CheckStatus::missing || c.status == CheckStatus::mismatch)
            broken = true;
        else if (!check_passes(c.status))
            unknown = true;
    }
    // A required selector without a result (added while this run was in
    // flight) is unknown, not broken.
    if (required_check(cfg, "dkim"))
        for (const auto& s : d.selectors)
            if (selector_required(d, s) && !by_name.count("dkim:" + s.name)) unknown = true;
    const bool pass = !broken && !unknown;

    DomainStatus next = d.status;
    switch (d.status) {
        case DomainStatus::pending: {
            const int64_t since = d.status_changed_at ? d.status_changed_at : d.created_at;
            if (pass)
                next = DomainStatus::verified;
            else if (broken && now - since >= static_cast<int64_t>(cfg.verify.pending_timeout.count()))
                next = DomainStatus::failed;
            break;
        }
        case DomainStatus::verified:
            if (broken) next = DomainStatus::degraded;
            break;
        case DomainStatus::degraded:
        case DomainStatus::failed:
            if (pass) next = DomainStatus::verified;
            break;
        case DomainStatus::suspended:
            break;
    }
    if (next != d.status) {
        d.status = next;
        d.status_changed_at = now;
    }
    if (d.status == DomainStatus::verified && d.verified_at == 0) d.verified_at = now;

    // First verification: the pending selectors it checked become active.
    if (d.status == DomainStatus::verified && !has_active(d))
        for (auto& s : d.selectors)
            if (s.state == SelectorState::pending && selector_passes(s)) promote(s);

    if (v.spf_known) d.existing_spf = v.existing_spf;
    d.checks = std::move(checks);
    d.checked_at = now;
    t.to = d.status;
    return t;
}

std::vector<VerifyReport> verify_domains(Store& store, const Config& cfg,
                                         const std::vector<Domain>& domains) {
    // The look-ups and SPF run in a confined child (dns/verify_child.h);
    // only its results come back here, to the store.
    const auto results = check_in_child(cfg, domains).results;
    const int64_t now = now_seconds();
    std::vector<VerifyReport> reports;
    {
        auto t = store.write();
        for (const auto& v : results) {
            auto cur = store.domain(t, v.domain);
            if (!cur || cur->deleted) continue;
            VerifyReport r;
            r.transition = apply_verification(*cur, v, cfg, now);
            store.put(t, *cur);
            r.domain = std::move(*cur);
            reports.push_back(std::move(r));
        }
        t.commit();
    }
    bool any = std::any_of(reports.begin(), reports.end(),
                           [](const VerifyReport& r) { return r.transition.changed(); });
    if (any) store.update_counters([&](lmdb::WriteTxn& t) {
        for (const auto& r : reports) {
            const Transition& tr = r.transition;
            if (tr.from != tr.to)
                store.add_event(t, r.domain.name,
                                {{"type", "domain.status"},
                                 {"from", to_string(tr.from)},
                                 {"to", to_string(tr.to)},
                                 {"by", "verify"},
                                 {"at", now}});
            for (const auto& s : tr.activated)
                store.add_event(
                    t, r.domain.name,
                    {{"type", "dkim.selector_active"}, {"selector", s}, {"by", "verify"}, {"at", now}});
            for (const auto& s : tr.retiring)
                store.add_event(
                    t, r.domain.name,
                    {{"type", "dkim.selector_retiring"}, {"selector", s}, {"by", "verify"}, {"at", now}});
        }
        return true;
    });
    return reports;
}

}  // namespace outpost
