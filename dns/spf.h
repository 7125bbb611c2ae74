// spf.h - SPF evaluation with libspf2, fed by our own resolver.
//
// libspf2 asks its DNS layer one question at a time and waits for the
// answer. To keep a thousand domains' look-ups in flight together, the
// evaluator installs a DNS layer that only answers from a DnsCache: an
// evaluation that needs a record the cache does not hold yet is abandoned
// (the layer answers TRY_AGAIN and notes the question), every question noted
// by every evaluation of the round is resolved in one concurrent batch, and
// the abandoned evaluations run again. libspf2's evaluation is cheap and
// deterministic; the round trips are what cost, and a round costs one.
// An SPF check of `include:` depth n takes about n+1 rounds.
//
// Because the answers come from our resolver, dns.upstream (tests) and
// DNSSEC validation apply to SPF exactly as to the other checks.
#pragma once

#include <string>
#include <vector>

#include "dns/resolver.h"

namespace outpost::dns {

// One question: does `domain`'s SPF authorize `ip` (MAIL FROM
// postmaster@domain)?
struct SpfQuestion {
    std::string domain;
    std::string ip;
};

struct SpfOutcome {
    // pass, fail, softfail, neutral, none, permerror, temperror
    std::string result;
    // Why, in libspf2's words: its errors (e.g. "Maximum DNS-mechanisms (10)
    // exceeded") or its comment on the result.
    std::string explanation;
};

class SpfEvaluator {
public:
    // `receiving_host` names us in libspf2's comments (relay.hostname).
    SpfEvaluator(Resolver& resolver, DnsCache& cache, const std::string& receiving_host);
    ~SpfEvaluator();
    SpfEvaluator(const SpfEvaluator&) = delete;
    SpfEvaluator& operator=(const SpfEvaluator&) = delete;

    // Answers every question; look-ups of all questions go out together.
    std::vector<SpfOutcome> evaluate(const std::vector<SpfQuestion>& qs);

    // Rounds of look-ups the last evaluate() needed (for tests, benchmark).
    int rounds() const { return rounds_; }

    static constexpr int kMaxRounds = 40;

private:
    struct Impl;
    Impl* impl_;
    Resolver& resolver_;
    DnsCache& cache_;
    int rounds_ = 0;
};

// True for 127.0.0.0/8 and ::1: libspf2 passes loopback clients without
// looking at any record, so such relay addresses cannot be checked.
bool is_loopback_ip(const std::string& ip);

// The v=spf1 records among a name's TXT values.
std::vector<std::string> spf_records(const std::vector<std::string>& txt_values);

// One record merging several SPF records and our include: every term of
// each record (in order, first occurrence kept, `all` and `redirect=` only
// from the first record that has one) and include:<include>, `all` last.
std::string merge_spf_records(const std::vector<std::string>& records, const std::string& include);

// Whether `record` has the term include:<include> (any qualifier but '-').
bool spf_has_include(const std::string& record, const std::string& include);

}  // namespace outpost::dns
