// test_verify.cpp - DKIM/DMARC record parsing and the status machine with
// DKIM rotation, driven by made-up check results (no DNS).
#define BOOST_TEST_MODULE verify
#include <boost/test/unit_test.hpp>

#include "config/config.h"
#include "dns/verify.h"

using namespace outpost;

namespace {

struct DkimCase {
    const char* label;
    const char* txt;
    bool valid;
    const char* key;
    bool revoked, testing;
    size_t unknown;
};

Selector selector(const std::string& name, SelectorState st, KeyAlgorithm alg = KeyAlgorithm::rsa) {
    Selector s;
    s.name = name;
    s.state = st;
    s.algorithm = alg;
    s.public_key = "KEY-" + name;
    return s;
}

Domain domain(DomainStatus st, std::vector<Selector> sels, int64_t created = 1000) {
    Domain d;
    d.name = "example.com";
    d.status = st;
    d.created_at = d.status_changed_at = created;
    d.selectors = std::move(sels);
    return d;
}

CheckResult check(const std::string& name, CheckStatus st) {
    CheckResult c;
    c.name = name;
    c.status = st;
    return c;
}

// A run where spf and dmarc pass and the selectors have the given statuses.
DomainVerification run(std::vector<std::pair<std::string, CheckStatus>> dkim,
                       CheckStatus spf = CheckStatus::ok, CheckStatus dmarc = CheckStatus::warn) {
    DomainVerification v;
    v.domain = "example.com";
    for (auto& [sel, st] : dkim) v.checks.push_back(check("dkim:" + sel, st));
    v.checks.push_back(check("spf", spf));
    v.checks.push_back(check("dmarc", dmarc));
    v.checks.push_back(check("mailfrom", CheckStatus::missing));
    v.checks.push_back(check("tracking", CheckStatus::missing));
    return v;
}

const Config& cfg() {
    static const Config c = default_config();  // required: dkim, spf, dmarc; 72 h
    return c;
}

const int64_t kNow = 1000 + 3600;

}  // namespace

BOOST_AUTO_TEST_CASE(dkim_record_parsing) {
    const DkimCase cases[] = {
        {"plain", "v=DKIM1; k=rsa; p=ABC", true, "ABC", false, false, 0},
        {"no v, spaces in p", "k=rsa; p=AB C\t D", true, "ABCD", false, false, 0},
        {"trailing semicolon", "v=DKIM1; p=ABC;", true, "ABC", false, false, 0},
        {"revoked", "v=DKIM1; k=rsa; p=", true, "", true, false, 0},
        {"testing", "v=DKIM1; t=s:y; p=ABC", true, "ABC", false, true, 0},
        {"unknown tags", "v=DKIM1; p=ABC; zz=1; q=dns", true, "ABC", false, false, 2},
        {"no p", "v=DKIM1; k=rsa", false, "", false, false, 0},
        {"v not first", "k=rsa; v=DKIM1; p=ABC", false, "", false, false, 0},
        {"wrong version", "v=DKIM2; p=ABC", false, "", false, false, 0},
        {"duplicate tag", "v=DKIM1; p=ABC; p=DEF", false, "", false, false, 0},
        {"not tag=value", "hello world", false, "", false, false, 0},
        {"spf record", "v=spf1 -all", false, "", false, false, 0},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.label) {
            const auto r = parse_dkim_record(c.txt);
            BOOST_TEST(r.valid == c.valid);
            if (!c.valid) {
                BOOST_TEST(!r.error.empty());
                continue;
            }
            BOOST_TEST(r.public_key == c.key);
            BOOST_TEST(r.revoked == c.revoked);
            BOOST_TEST(r.testing == c.testing);
            BOOST_TEST(r.unknown_tags.size() == c.unknown);
        }
    }
    BOOST_TEST(parse_dkim_record("v=DKIM1; k=ED25519; p=x").key_type == "ed25519");
    BOOST_TEST(parse_dkim_record("v=DKIM1; h=sha1:SHA256; p=x").hashes ==
               (std::vector<std::string>{"sha1", "sha256"}));
}

BOOST_AUTO_TEST_CASE(dmarc_record_parsing) {
    BOOST_TEST(parse_dmarc_record("v=DMARC1; p=reject").policy == "reject");
    BOOST_TEST(parse_dmarc_record("v=DMARC1; p=none; sp=quarantine").subdomain_policy == "quarantine");
    BOOST_TEST(!parse_dmarc_record("v=DMARC1; p=maybe").valid);
    BOOST_TEST(!parse_dmarc_record("v=DMARC1; rua=mailto:a@b").valid);
    BOOST_TEST(!parse_dmarc_record("p=reject; v=DMARC1").valid);
    const auto recs = dmarc_records({"v=spf1 -all", "v=DMARC1; p=none", "hello", "v=DMARC1;p=maybe"});
    BOOST_TEST(recs.size() == 2u);
}

BOOST_AUTO_TEST_CASE(pending_becomes_verified_and_first_selector_active) {
    Domain d = domain(DomainStatus::pending, {selector("s1", SelectorState::pending)});
    auto t = apply_verification(d, run({{"s1", CheckStatus::ok}}), cfg(), kNow);
    BOOST_TEST(to_string(d.status) == "verified");
    BOOST_TEST(to_string(t.from) == "pending");
    BOOST_TEST(d.verified_at == kNow);
    BOOST_TEST(d.status_changed_at == kNow);
    BOOST_TEST(d.checked_at == kNow);
    BOOST_TEST(to_string(d.selectors[0].state) == "active");
    BOOST_TEST(t.activated == std::vector<std::string>{"s1"});
    BOOST_TEST(d.signing_selectors().size() == 1u);
    // Required marks: the selector, spf, dmarc; not the optional ones.
    for (const auto& c : d.checks)
        BOOST_TEST(c.required == (c.name != "mailfrom" && c.name != "tracking"), c.name);
}

BOOST_AUTO_TEST_CASE(pending_stays_pending_when_a_record_is_missing) {
    Domain d = domain(DomainStatus::pending, {selector("s1", SelectorState::pending)});
    apply_verification(d, run({{"s1", CheckStatus::ok}}, CheckStatus::missing), cfg(), kNow);
    BOOST_TEST(to_string(d.status) == "pending");
    BOOST_TEST(to_string(d.selectors[0].state) == "pending");  // not before the domain verifies
    BOOST_TEST(d.verified_at == 0);
}

BOOST_AUTO_TEST_CASE(pending_past_timeout_fails_but_not_on_dns_errors) {
    const int64_t late = 1000 + 72 * 3600;
    Domain d = domain(DomainStatus::pending, {selector("s1", SelectorState::pending)});
    apply_verification(d, run({{"s1", CheckStatus::error}}, CheckStatus::error, CheckStatus::error), cfg(),
                       late);
    BOOST_TEST(to_string(d.status) == "pending");
    apply_verification(d, run({{"s1", CheckStatus::missing}}), cfg(), late - 1);
    BOOST_TEST(to_string(d.status) == "pending");
    apply_verification(d, run({{"s1", CheckStatus::missing}}), cfg(), late);
    BOOST_TEST(to_string(d.status) == "failed");
    // Fixed later: failed -> verified.
    apply_verification(d, run({{"s1", CheckStatus::ok}}), cfg(), late + 10);
    BOOST_TEST(to_string(d.status) == "verified");
}

BOOST_AUTO_TEST_CASE(verified_degrades_and_recovers_errors_never_degrade) {
    Domain d = domain(DomainStatus::verified, {selector("s1", SelectorState::active)});
    d.verified_at = 500;
    apply_verification(d, run({{"s1", CheckStatus::error}}, CheckStatus::error, CheckStatus::error), cfg(),
                       kNow);
    BOOST_TEST(to_string(d.status) == "verified");
    apply_verification(d, run({{"s1", CheckStatus::ok}}, CheckStatus::mismatch), cfg(), kNow);
    BOOST_TEST(to_string(d.status) == "degraded");
    // Still broken, plus an error elsewhere: stays degraded.
    apply_verification(d, run({{"s1", CheckStatus::missing}}, CheckStatus::error), cfg(), kNow);
    BOOST_TEST(to_string(d.status) == "degraded");
    // An error alone does not bring it back either.
    apply_verification(d, run({{"s1", CheckStatus::ok}}, CheckStatus::error), cfg(), kNow);
    BOOST_TEST(to_string(d.status) == "degraded");
    apply_verification(d, run({{"s1", CheckStatus::ok}}), cfg(), kNow + 5);
    BOOST_TEST(to_string(d.status) == "verified");
    BOOST_TEST(d.verified_at == 500);  // the first verification is kept (warmup day 0)
}

BOOST_AUTO_TEST_CASE(optional_checks_do_not_decide_unless_required) {
    Domain d = domain(DomainStatus::pending, {selector("s1", SelectorState::pending)});
    Config c = default_config();
    c.verify.required = {"dkim", "spf", "dmarc", "mailfrom"};
    apply_verification(d, run({{"s1", CheckStatus::ok}}), c, kNow);
    BOOST_TEST(to_string(d.status) == "pending");  // mailfrom is missing and now required
    c.verify.required = {"spf"};
    apply_verification(d, run({{"s1", CheckStatus::missing}}), c, kNow);
    BOOST_TEST(to_string(d.status) == "verified");
}

BOOST_AUTO_TEST_CASE(suspended_is_left_to_health) {
    Domain d = domain(DomainStatus::suspended, {selector("s1", SelectorState::active)});
    apply_verification(d, run({{"s1", CheckStatus::missing}}), cfg(), kNow);
    BOOST_TEST(to_string(d.status) == "suspended");
    apply_verification(d, run({{"s1", CheckStatus::ok}}), cfg(), kNow);
    BOOST_TEST(to_string(d.status) == "suspended");
}

BOOST_AUTO_TEST_CASE(rotation_pending_to_active_old_to_retiring) {
    Domain d = domain(DomainStatus::verified,
                      {selector("old", SelectorState::active), selector("new", SelectorState::pending)});
    // New record not published: nothing moves; its absence is not required.
    auto t =
        apply_verification(d, run({{"old", CheckStatus::ok}, {"new", CheckStatus::missing}}), cfg(), kNow);
    BOOST_TEST(!t.changed());
    BOOST_TEST(to_string(d.selectors[1].state) == "pending");
    BOOST_TEST(!d.checks[1].required);
    BOOST_TEST(d.checks[0].required);
    // Published: new active, old retiring (still published, not signing).
    t = apply_verification(d, run({{"old", CheckStatus::ok}, {"new", CheckStatus::ok}}), cfg(), kNow);
    BOOST_TEST(t.activated == std::vector<std::string>{"new"});
    BOOST_TEST(t.retiring == std::vector<std::string>{"old"});
    BOOST_TEST(to_string(d.selectors[0].state) == "retiring");
    BOOST_TEST(to_string(d.selectors[1].state) == "active");
    BOOST_TEST(d.selectors[1].activated_at == kNow);
    BOOST_TEST(d.signing_selectors().size() == 1u);
    BOOST_TEST(d.signing_selectors()[0]->name == "new");
    BOOST_TEST(to_string(d.status) == "verified");
    // The retiring one's record going away does not degrade the domain.
    apply_verification(d, run({{"old", CheckStatus::missing}, {"new", CheckStatus::ok}}), cfg(), kNow);
    BOOST_TEST(to_string(d.status) == "verified");
}

BOOST_AUTO_TEST_CASE(rotation_replaces_only_the_same_algorithm) {
    Domain d = domain(DomainStatus::verified, {selector("r1", SelectorState::active),
                                               selector("e1", SelectorState::active, KeyAlgorithm::ed25519),
                                               selector("r2", SelectorState::pending)});
    auto t = apply_verification(
        d, run({{"r1", CheckStatus::ok}, {"e1", CheckStatus::ok}, {"r2", CheckStatus::warn}}), cfg(), kNow);
    BOOST_TEST(t.retiring == std::vector<std::string>{"r1"});
    BOOST_TEST(to_string(d.find_selector("e1")->state) == "active");
    BOOST_TEST(to_string(d.find_selector("r2")->state) == "active");
}

BOOST_AUTO_TEST_CASE(new_active_selector_rescues_a_removed_old_record) {
    // The old record was removed as the new one was published: after the
    // switch the domain signs with a verified key, so it stays verified.
    Domain d = domain(DomainStatus::verified,
                      {selector("old", SelectorState::active), selector("new", SelectorState::pending)});
    apply_verification(d, run({{"old", CheckStatus::missing}, {"new", CheckStatus::ok}}), cfg(), kNow);
    BOOST_TEST(to_string(d.status) == "verified");
    BOOST_TEST(to_string(d.find_selector("new")->state) == "active");
}

BOOST_AUTO_TEST_CASE(selector_added_during_the_run_is_unknown_not_broken) {
    Domain d = domain(DomainStatus::pending,
                      {selector("s1", SelectorState::pending), selector("s2", SelectorState::pending)});
    apply_verification(d, run({{"s1", CheckStatus::ok}}), cfg(), kNow);  // no result for s2
    BOOST_TEST(to_string(d.status) == "pending");
}

BOOST_AUTO_TEST_CASE(spf_advice_is_kept_only_when_known) {
    Domain d = domain(DomainStatus::pending, {selector("s1", SelectorState::pending)});
    DomainVerification v = run({{"s1", CheckStatus::ok}});
    v.spf_known = true;
    v.existing_spf = "v=spf1 mx -all";
    apply_verification(d, v, cfg(), kNow);
    BOOST_TEST(d.existing_spf == "v=spf1 mx -all");
    v.spf_known = false;  // a DNS error: keep what we knew
    v.existing_spf = "";
    apply_verification(d, v, cfg(), kNow);
    BOOST_TEST(d.existing_spf == "v=spf1 mx -all");
}
