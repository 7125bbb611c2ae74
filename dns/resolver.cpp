// resolver.cpp - libunbound in threaded async mode, polled with our own clock.
#include "dns/resolver.h"

#include <arpa/inet.h>
#include <poll.h>
#include <resolv.h>
#include <sys/stat.h>
#include <unbound.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "config/config.h"
#include "base/error.h"

namespace outpost::dns {
namespace {

using Clock = std::chrono::steady_clock;

bool iequal(const std::string& a, const std::string& b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(),
                      [](unsigned char x, unsigned char y) { return std::tolower(x) == std::tolower(y); });
}

uint16_t get16(const unsigned char* p) {
    return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

[[noreturn]] void bad_option(const std::string& what) {
    throw Error(Exit::config, "DNS_CONFIG_INVALID", what);
}

}  // namespace

const char* to_string(RRType t) {
    switch (t) {
        case RRType::A:
            return "A";
        case RRType::CNAME:
            return "CNAME";
        case RRType::PTR:
            return "PTR";
        case RRType::MX:
            return "MX";
        case RRType::TXT:
            return "TXT";
        case RRType::AAAA:
            return "AAAA";
        case RRType::SPF:
            return "SPF";
    }
    return "?";
}

const char* to_string(Rcode r) {
    switch (r) {
        case Rcode::ok:
            return "ok";
        case Rcode::nxdomain:
            return "nxdomain";
        case Rcode::nodata:
            return "nodata";
        case Rcode::servfail:
            return "servfail";
        case Rcode::timeout:
            return "timeout";
    }
    return "?";
}

const char* to_string(Dnssec s) {
    switch (s) {
        case Dnssec::unchecked:
            return "unchecked";
        case Dnssec::secure:
            return "secure";
        case Dnssec::insecure:
            return "insecure";
        case Dnssec::bogus:
            return "bogus";
    }
    return "?";
}

bool Query::operator<(const Query& o) const {
    if (type != o.type) return type < o.type;
    return name < o.name;
}

std::string Answer::chain_text() const {
    if (chain.size() < 2) return "";
    std::string s;
    for (size_t i = 0; i < chain.size(); ++i) s += (i ? " -> " : "") + chain[i];
    return s;
}

ResolverOptions resolver_options(const Config& cfg) {
    ResolverOptions o;
    o.upstream = cfg.dns.upstream;
    o.timeout = cfg.dns.timeout;
    o.deadline = cfg.dns.deadline;
    o.trust_anchor = cfg.dns.trust_anchor;
    o.concurrency = cfg.dns.concurrency;
    return o;
}

namespace {

// A domain name in wire form, uncompressed, as libunbound hands out rdata
// (a compression pointer can only point inside `rd`; dn_expand bounds it).
bool wire_name(const unsigned char* rd, const unsigned char* end, const unsigned char* at, std::string& out,
               size_t* used = nullptr) {
    char name[NS_MAXDNAME];
    const int n = dn_expand(rd, end, at, name, sizeof name);
    if (n < 0) return false;
    out = name;
    if (used) *used = static_cast<size_t>(n);
    return true;
}

std::string without_root_dot(std::string name) {
    if (name.size() > 1 && name.back() == '.') name.pop_back();
    return name;
}

}  // namespace

bool read_rdata(RRType type, const unsigned char* rd, size_t len, std::string& out) {
    const unsigned char* end = rd + len;
    out.clear();
    switch (type) {
        case RRType::TXT:
        case RRType::SPF:
            // <len><bytes> strings, joined in order with nothing between.
            for (const unsigned char* d = rd; d < end;) {
                const size_t l = *d++;
                if (l > static_cast<size_t>(end - d)) return false;
                out.append(reinterpret_cast<const char*>(d), l);
                d += l;
            }
            return true;
        case RRType::MX: {
            std::string host;
            size_t used = 0;
            if (len < 3 || !wire_name(rd, end, rd + 2, host, &used) || 2 + used != len) return false;
            out = std::to_string(get16(rd)) + " " + host;
            return true;
        }
        case RRType::CNAME:
        case RRType::PTR: {
            size_t used = 0;
            return wire_name(rd, end, rd, out, &used) && used == len;
        }
        case RRType::A:
        case RRType::AAAA: {
            const bool four = type == RRType::A;
            if (len != (four ? 4u : 16u)) return false;
            char buf[INET6_ADDRSTRLEN];
            if (!inet_ntop(four ? AF_INET : AF_INET6, rd, buf, sizeof buf)) return false;
            out = buf;
            return true;
        }
    }
    return false;
}

std::vector<std::string> cname_chain(const unsigned char* pkt, size_t len, const std::string& qname,
                                     const std::string& canonical) {
    const std::vector<std::string> plain =
        iequal(qname, canonical) ? std::vector<std::string>{qname} : std::vector<std::string>{qname, canonical};
    if (len < 12) return plain;
    const unsigned char* end = pkt + len;
    const unsigned qd = get16(pkt + 4), an = get16(pkt + 6);
    const unsigned char* p = pkt + 12;
    char name[NS_MAXDNAME];
    for (unsigned i = 0; i < qd; ++i) {
        const int n = dn_expand(pkt, end, p, name, sizeof name);
        if (n < 0 || n + 4 > end - p) return plain;
        p += n + 4;
    }
    // The CNAME records of the answer section: owner -> target.
    std::vector<std::pair<std::string, std::string>> cnames;
    for (unsigned i = 0; i < an; ++i) {
        const int n = dn_expand(pkt, end, p, name, sizeof name);
        if (n < 0 || n + 10 > end - p) return plain;
        p += n;
        const uint16_t type = get16(p), rdlen = get16(p + 8);
        p += 10;
        if (rdlen > end - p) return plain;
        if (type == 5) {
            std::string owner = name;
            if (dn_expand(pkt, end, p, name, sizeof name) < 0) return plain;
            cnames.emplace_back(std::move(owner), name);
        }
        p += rdlen;
    }
    // From the question name, each step by a record not used before.
    std::vector<std::string> chain{qname};
    std::vector<bool> used(cnames.size(), false);
    for (bool moved = true; moved;) {
        moved = false;
        for (size_t i = 0; i < cnames.size(); ++i) {
            if (used[i] || !iequal(cnames[i].first, chain.back())) continue;
            used[i] = true;
            chain.push_back(cnames[i].second);
            moved = true;
            break;
        }
    }
    // Only a walk that ends where libunbound says the answer is.
    return iequal(chain.back(), canonical) ? chain : plain;
}

bool read_result(const ub_result& r, const Query& q, Answer& out) {
    out.values.clear();
    out.chain.assign(1, q.name);
    if (r.data)
        for (size_t i = 0; r.data[i]; ++i) {
            if (r.len[i] < 0) return false;
            std::string v;
            if (!read_rdata(q.type, reinterpret_cast<const unsigned char*>(r.data[i]),
                            static_cast<size_t>(r.len[i]), v))
                return false;
            out.values.push_back(std::move(v));
        }
    // Asked for a CNAME, the CNAME is the answer: nothing was followed.
    if (q.type != RRType::CNAME && r.canonname) {
        const std::string canonical = without_root_dot(r.canonname);
        if (!iequal(canonical, without_root_dot(q.name)))
            out.chain = r.answer_packet && r.answer_len > 0
                            ? cname_chain(static_cast<const unsigned char*>(r.answer_packet),
                                          static_cast<size_t>(r.answer_len), q.name, canonical)
                            : std::vector<std::string>{q.name, canonical};
    }
    return true;
}

Query DnsCache::key(const Query& q) {
    Query k = q;
    std::transform(k.name.begin(), k.name.end(), k.name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (!k.name.empty() && k.name.back() == '.') k.name.pop_back();
    return k;
}

const Answer* DnsCache::find(const Query& q) const {
    auto it = answers_.find(key(q));
    return it == answers_.end() ? nullptr : &it->second;
}

void DnsCache::put(const Answer& a) {
    answers_[key(a.query)] = a;
}

Resolver::Resolver(const ResolverOptions& o)
    : opt_(o), ctx_(ub_ctx_create(), ub_ctx_delete), deadline_(Clock::now() + o.deadline) {
    if (!ctx_) throw Error(Exit::environment, "DNS_INIT", "ub_ctx_create failed (out of memory?)");
    if (opt_.concurrency < 1) opt_.concurrency = 1;
    auto check = [](int rc, const std::string& what) {
        if (rc != 0) bad_option(what + ": " + ub_strerror(rc));
    };
    // libunbound refuses to send queries to loopback by default; a local
    // forwarder (or the tests' server) is exactly what dns.upstream is for.
    check(ub_ctx_set_option(ctx_.get(), "do-not-query-localhost:", "no"), "do-not-query-localhost");
    if (!opt_.upstream.empty()) {
        const std::string& u = opt_.upstream;
        const auto at = u.find('@');
        const std::string addr = u.substr(0, at);
        unsigned char buf[16];
        bool port_ok = true;
        if (at != std::string::npos) {
            const std::string port = u.substr(at + 1);
            port_ok = !port.empty() && port.size() <= 5 &&
                      port.find_first_not_of("0123456789") == std::string::npos && std::stoi(port) >= 1 &&
                      std::stoi(port) <= 65535;
        }
        if ((inet_pton(AF_INET, addr.c_str(), buf) != 1 && inet_pton(AF_INET6, addr.c_str(), buf) != 1) ||
            !port_ok)
            bad_option("dns.upstream '" + u +
                       "' is not ADDR or ADDR@PORT (e.g. 127.0.0.1@5353); "
                       "use \"\" to resolve recursively");
        check(ub_ctx_set_fwd(ctx_.get(), u.c_str()), "dns.upstream '" + u + "'");
    }
    if (!opt_.trust_anchor.empty()) {
        struct stat st {};
        if (::stat(opt_.trust_anchor.c_str(), &st) != 0)
            bad_option("dns.trust_anchor '" + opt_.trust_anchor + "' cannot be read (" +
                       std::strerror(errno) + "); install dns-root-data or set it to \"\"");
        check(ub_ctx_add_ta_file(ctx_.get(), opt_.trust_anchor.c_str()),
              "dns.trust_anchor '" + opt_.trust_anchor + "'");
    }
    // Threads, not the default forked process: no fork of a large process,
    // and results come back through a pipe we poll with our own timeouts.
    check(ub_ctx_async(ctx_.get(), 1), "ub_ctx_async");
    if (!opt_.upstream.empty()) {
        // libunbound answers the special-use names of RFC 6761 (test.,
        // invalid., ...) itself, with NXDOMAIN. With an upstream, that server
        // decides: test labs serve zones under .test. (This finalizes the
        // context, so it comes after every option.)
        // A zone that is not a default in this version is simply not found.
        for (const char* zone : {"test.", "invalid.", "example.", "home.arpa.", "onion."})
            (void)ub_ctx_zone_remove(ctx_.get(), zone);
    }
}

Resolver::~Resolver() = default;

// libunbound calls this from C (inside ub_process): nothing may unwind
// through it. What finish() throws (no memory) answers SERVFAIL.
void Resolver::on_result(void* data, int err, ub_result* r) noexcept {
    auto* t = static_cast<Ticket*>(data);
    try {
        t->self->finish(*t, err, r);
    } catch (...) {
        if (t->out) {
            t->out->rcode = Rcode::servfail;
            t->out = nullptr;
            --t->self->in_flight_;
        }
    }
}

void Resolver::finish(Ticket& t, int err, ub_result* r) {
    std::unique_ptr<ub_result, void (*)(ub_result*)> guard(r, ub_resolve_free);
    if (!t.out) return;  // abandoned after its timeout
    Answer& a = *t.out;
    t.out = nullptr;
    --in_flight_;
    a.chain.assign(1, a.query.name);
    a.values.clear();
    if (err != 0 || !r) {
        a.rcode = Rcode::servfail;
        a.why = std::string("resolver error: ") + ub_strerror(err);
        return;
    }
    if (!opt_.trust_anchor.empty())
        a.dnssec = r->secure ? Dnssec::secure : r->bogus ? Dnssec::bogus : Dnssec::insecure;
    if (r->bogus) {
        a.rcode = Rcode::servfail;
        a.why = std::string("DNSSEC validation failed (bogus): ") + (r->why_bogus ? r->why_bogus : "?");
        return;
    }
    if (!read_result(*r, a.query, a)) {
        a.rcode = Rcode::servfail;
        a.why = "malformed DNS response";
        a.values.clear();
        return;
    }
    switch (r->rcode) {
        case 0:
            a.rcode = a.values.empty() ? Rcode::nodata : Rcode::ok;
            break;
        case 3:
            a.rcode = Rcode::nxdomain;
            a.values.clear();
            break;
        default:
            a.rcode = Rcode::servfail;
            a.values.clear();
            a.why = r->rcode == 5 ? "the server refused the query (REFUSED)"
                                  : "the server failed (rcode " + std::to_string(r->rcode) + ")";
    }
}

std::vector<Answer> Resolver::resolve(const std::vector<Query>& qs) {
    std::vector<Answer> out(qs.size());
    for (size_t i = 0; i < qs.size(); ++i) {
        out[i].query = qs[i];
        out[i].chain.assign(1, qs[i].name);
    }
    std::vector<Ticket*> live;
    size_t next = 0;
    auto expire = [&](Ticket& t, const char* why) {
        if (!t.out) return;
        ub_cancel(ctx_.get(), t.async_id);
        t.out->rcode = Rcode::timeout;
        t.out->why = why;
        t.out = nullptr;
        --in_flight_;
    };
    for (;;) {
        const auto now = Clock::now();
        if (now >= deadline_) {
            for (auto* t : live) expire(*t, "dns.deadline for this run reached");
            for (; next < qs.size(); ++next) {
                out[next].rcode = Rcode::timeout;
                out[next].why = "dns.deadline for this run reached before the query was sent";
            }
            break;
        }
        for (auto* t : live)
            if (t->out && now - t->started >= opt_.timeout) expire(*t, "no answer within dns.timeout");
        live.erase(std::remove_if(live.begin(), live.end(), [](Ticket* t) { return !t->out; }), live.end());
        while (next < qs.size() && in_flight_ < static_cast<size_t>(opt_.concurrency)) {
            tickets_.push_back(Ticket{this, &out[next], 0, Clock::now()});
            Ticket& t = tickets_.back();
            const Query& q = qs[next++];
            int rc = ub_resolve_async(ctx_.get(), q.name.c_str(), static_cast<int>(q.type), 1, &t,
                                      &Resolver::on_result, &t.async_id);
            if (rc != 0) {
                t.out->rcode = Rcode::servfail;
                t.out->why = std::string("cannot send the query: ") + ub_strerror(rc);
                t.out = nullptr;
                continue;
            }
            ++in_flight_;
            ++sent_;
            live.push_back(&t);
        }
        if (live.empty() && next >= qs.size()) break;
        // Sleep until an answer arrives or the nearest time limit.
        auto wake = deadline_;
        for (auto* t : live) wake = std::min(wake, t->started + opt_.timeout);
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wake - Clock::now()).count();
        pollfd pfd{ub_fd(ctx_.get()), POLLIN, 0};
        int pr = ::poll(&pfd, 1, static_cast<int>(std::clamp<long long>(ms + 1, 0, 1000)));
        if (pr > 0) ub_process(ctx_.get());  // runs on_result for each answer ready
        live.erase(std::remove_if(live.begin(), live.end(), [](Ticket* t) { return !t->out; }), live.end());
    }
    return out;
}

}  // namespace outpost::dns
