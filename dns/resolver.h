// resolver.h - DNS look-ups for verification, on libunbound's async API.
//
// One Resolver serves one verification run. It either resolves recursively
// from the root (dns.upstream "") or forwards every query to one server
// (dns.upstream "ADDR[@PORT]", which may be on loopback: tests point it at
// a server they start). Queries are submitted in batches and kept in
// flight together, up to dns.concurrency at once, so checking a thousand
// domains costs about as long as the slowest few round trips, not a
// thousand of them.
//
// Time limits: every query gets dns.timeout (then it is cancelled and
// reported as `timeout`), and the whole run gets dns.deadline from the
// Resolver's construction (queries not answered by then are `timeout`
// too, and later batches are not sent at all).
//
// Answers are summarized as values that callers can compare (TXT strings of
// one record joined in order, "PREF host" for MX, targets for CNAME and
// PTR, addresses in text form for A/AAAA), with the CNAME chain that led to
// them and, when dns.trust_anchor names a trust anchor file, the DNSSEC
// status (secure, insecure, bogus).
//
// Not thread-safe: use a Resolver from one thread. Errors building the
// context (bad upstream address, unreadable trust anchor) throw
// Error(Exit::config).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

struct ub_ctx;
struct ub_result;

namespace outpost {

struct Config;

namespace dns {

// RR types used here (values from RFC 1035 / 3596).
enum class RRType : uint16_t { A = 1, CNAME = 5, PTR = 12, MX = 15, TXT = 16, AAAA = 28, SPF = 99 };
const char* to_string(RRType t);

enum class Rcode { ok, nxdomain, nodata, servfail, timeout };
const char* to_string(Rcode r);

enum class Dnssec { unchecked, secure, insecure, bogus };
const char* to_string(Dnssec s);

struct Query {
    std::string name;  // absolute, without the trailing dot; case is kept
    RRType type = RRType::TXT;
    bool operator<(const Query& o) const;
    bool operator==(const Query& o) const { return type == o.type && name == o.name; }
};

struct Answer {
    Query query;
    Rcode rcode = Rcode::timeout;
    Dnssec dnssec = Dnssec::unchecked;
    // The names the answer went through: query name, then each CNAME target
    // in order (size 1 when there was no CNAME).
    std::vector<std::string> chain;
    // One value per record of the wanted type (see the file comment).
    std::vector<std::string> values;
    std::string why;  // why it failed (servfail/timeout) or why bogus

    bool ok() const { return rcode == Rcode::ok; }
    // nxdomain or nodata: the name or record does not exist.
    bool absent() const { return rcode == Rcode::nxdomain || rcode == Rcode::nodata; }
    // servfail or timeout: nothing can be said about the record.
    bool failed() const { return rcode == Rcode::servfail || rcode == Rcode::timeout; }
    // "a -> b -> c" when a CNAME was followed, "" otherwise.
    std::string chain_text() const;
};

struct ResolverOptions {
    std::string upstream;  // "" = recursive; "ADDR" or "ADDR@PORT"
    std::chrono::milliseconds timeout{5000};
    std::chrono::milliseconds deadline{60000};
    std::string trust_anchor;  // file; "" = no DNSSEC validation
    int concurrency = 200;
};
ResolverOptions resolver_options(const Config& cfg);

// Reading libunbound's results (exposed for tests and fuzzing). The values
// come from libunbound's own parse of the answer (ub_result data: the
// records of the asked type at the name the CNAMEs led to, which libunbound
// followed and, with a trust anchor, validated); outpost reads only each
// record's data. libunbound gives the final name, not the names between: for
// showing them, the answer packet's CNAME records are walked, and where the
// walk does not end at libunbound's final name the chain is just the
// question and the final name.
//
// One record's data as a value; false when it is malformed.
bool read_rdata(RRType type, const unsigned char* rdata, size_t len, std::string& out);
// The names from `qname` to `canonical` through the packet's CNAME records.
std::vector<std::string> cname_chain(const unsigned char* pkt, size_t len, const std::string& qname,
                                     const std::string& canonical);
// Values and chain of one result; false when a record's data is malformed.
bool read_result(const ub_result& r, const Query& q, Answer& out);

class Resolver {
public:
    explicit Resolver(const ResolverOptions& o);
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // Resolves every query, concurrently; answers in the order of `qs`.
    std::vector<Answer> resolve(const std::vector<Query>& qs);
    Answer resolve(const Query& q) { return resolve(std::vector<Query>{q}).front(); }

    const ResolverOptions& options() const { return opt_; }
    // Queries sent so far (for tests and the benchmark).
    size_t queries_sent() const { return sent_; }

private:
    struct Ticket {
        Resolver* self = nullptr;
        Answer* out = nullptr;  // null once finished or abandoned
        int async_id = 0;
        std::chrono::steady_clock::time_point started;
    };
    static void on_result(void* data, int err, ub_result* r) noexcept;
    void finish(Ticket& t, int err, ub_result* r);

    ResolverOptions opt_;
    std::unique_ptr<ub_ctx, void (*)(ub_ctx*)> ctx_;
    std::chrono::steady_clock::time_point deadline_;
    std::deque<Ticket> tickets_;  // stable addresses for libunbound's callbacks
    size_t in_flight_ = 0;
    size_t sent_ = 0;
};

// Answers of one run by (lower-cased name, type): what the SPF evaluator
// reads, so that libspf2 sees the same answers the other checks saw.
class DnsCache {
public:
    const Answer* find(const Query& q) const;
    void put(const Answer& a);
    size_t size() const { return answers_.size(); }
    static Query key(const Query& q);

private:
    std::map<Query, Answer> answers_;
};

}  // namespace dns
}  // namespace outpost
