// spf.cpp - libspf2 behind a cache-only DNS layer, evaluated in rounds.
#include "dns/spf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
extern "C" {
#include <spf2/spf.h>
}

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>
#include <sstream>

#include "base/error.h"

namespace outpost::dns {
namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// libspf2 writes warnings and debug lines to stdout/stderr by default;
// outpostctl's output is a table or JSON, so its chatter is dropped (its
// findings reach us through the response's error list instead).
void quiet(const char*, int, const char*) {}

struct LayerState {
    const DnsCache* cache = nullptr;
    std::set<Query>* misses = nullptr;
    int missed = 0;  // misses during the current evaluation
};

SPF_dns_rr_t* make_rr(SPF_dns_server_t* srv, const char* domain, ns_type type, int herrno) {
    return SPF_dns_rr_new_init(srv, domain, type, 0, herrno);
}

// The layer's lookup: answers from the cache, notes what it lacks.
SPF_dns_rr_t* cache_lookup_or_throw(SPF_dns_server_t* srv, const char* domain, ns_type type) {
    auto* st = static_cast<LayerState*>(srv->hook);
    RRType t;
    switch (type) {
        case ns_t_a:
            t = RRType::A;
            break;
        case ns_t_aaaa:
            t = RRType::AAAA;
            break;
        case ns_t_mx:
            t = RRType::MX;
            break;
        case ns_t_txt:
            t = RRType::TXT;
            break;
        case ns_t_ptr:
            t = RRType::PTR;
            break;
        default:
            // Type 99 (SPF) is obsolete (RFC 7208 section 14.1): answer "no
            // data" so libspf2 goes on to TXT.
            return make_rr(srv, domain, type, NO_DATA);
    }
    Query q{domain ? domain : "", t};
    if (!q.name.empty() && q.name.back() == '.') q.name.pop_back();
    if (q.name.empty()) return make_rr(srv, domain, type, HOST_NOT_FOUND);
    const Answer* a = st->cache->find(q);
    if (!a) {
        st->misses->insert(DnsCache::key(q));
        ++st->missed;
        return make_rr(srv, domain, type, TRY_AGAIN);
    }
    switch (a->rcode) {
        case Rcode::nxdomain:
            return make_rr(srv, domain, type, HOST_NOT_FOUND);
        case Rcode::nodata:
            return make_rr(srv, domain, type, NO_DATA);
        case Rcode::servfail:
        case Rcode::timeout:
            return make_rr(srv, domain, type, TRY_AGAIN);
        case Rcode::ok:
            break;
    }
    SPF_dns_rr_t* rr = make_rr(srv, domain, type, NETDB_SUCCESS);
    if (!rr) return nullptr;
    int n = 0;
    for (const auto& v : a->values) {
        if (t == RRType::A || t == RRType::AAAA) {
            const bool four = t == RRType::A;
            if (SPF_dns_rr_buf_realloc(rr, n, four ? sizeof(in_addr) : sizeof(in6_addr)) != SPF_E_SUCCESS)
                break;
            void* dst = four ? static_cast<void*>(&rr->rr[n]->a) : static_cast<void*>(&rr->rr[n]->aaaa);
            if (inet_pton(four ? AF_INET : AF_INET6, v.c_str(), dst) != 1) continue;
        } else {
            // TXT: the joined strings; MX: the host of "PREF host"; PTR: the name.
            std::string text = v;
            if (t == RRType::MX) {
                auto sp = v.find(' ');
                text = sp == std::string::npos ? v : v.substr(sp + 1);
            }
            // libspf2 works on C strings: a TXT value with a NUL in it is
            // cut there, as its own resolver layer does.
            if (SPF_dns_rr_buf_realloc(rr, n, text.size() + 1) != SPF_E_SUCCESS) break;
            std::memcpy(rr->rr[n]->txt, text.c_str(), text.size() + 1);
        }
        ++n;
    }
    rr->num_rr = n;
    return rr;
}

// libspf2 calls this from C: nothing may unwind through it. What throws
// (no memory for the name or the miss set) answers TRY_AGAIN: the check
// becomes a temporary error, never a verdict.
SPF_dns_rr_t* cache_lookup(SPF_dns_server_t* srv, const char* domain, ns_type type, int) noexcept {
    try {
        return cache_lookup_or_throw(srv, domain, type);
    } catch (...) {
        return make_rr(srv, domain, type, TRY_AGAIN);
    }
}

const char* result_word(SPF_result_t r) {
    switch (r) {
        case SPF_RESULT_PASS:
            return "pass";
        case SPF_RESULT_FAIL:
            return "fail";
        case SPF_RESULT_SOFTFAIL:
            return "softfail";
        case SPF_RESULT_NEUTRAL:
            return "neutral";
        case SPF_RESULT_NONE:
            return "none";
        case SPF_RESULT_TEMPERROR:
            return "temperror";
        case SPF_RESULT_PERMERROR:
            return "permerror";
        case SPF_RESULT_INVALID:
            break;
    }
    return "";
}

}  // namespace

struct SpfEvaluator::Impl {
    LayerState state;
    std::set<Query> misses;
    SPF_dns_server_t layer{};
    SPF_server_t* server = nullptr;
};

SpfEvaluator::SpfEvaluator(Resolver& resolver, DnsCache& cache, const std::string& receiving_host)
    : impl_(new Impl), resolver_(resolver), cache_(cache) {
    static const bool handlers_set = [] {
        SPF_warning_handler = quiet;
        SPF_info_handler = quiet;
        SPF_debug_handler = quiet;
        return true;
    }();
    (void)handlers_set;
    impl_->state.cache = &cache_;
    impl_->state.misses = &impl_->misses;
    SPF_dns_server_t& l = impl_->layer;
    l.destroy = nullptr;  // ours, not libspf2's to free
    l.lookup = cache_lookup;
    l.get_spf = nullptr;  // libspf2's default: TXT at the domain
    l.get_exp = nullptr;
    l.add_cache = nullptr;
    l.layer_below = nullptr;
    l.name = "outpost-cache";
    l.debug = 0;
    l.hook = &impl_->state;
    impl_->server = SPF_server_new_dns(&impl_->layer, 0);
    if (!impl_->server) {
        delete impl_;
        throw Error(Exit::environment, "SPF_INIT", "SPF_server_new_dns failed (out of memory?)");
    }
    if (!receiving_host.empty()) SPF_server_set_rec_dom(impl_->server, receiving_host.c_str());
}

SpfEvaluator::~SpfEvaluator() {
    SPF_server_free(impl_->server);
    delete impl_;
}

std::vector<SpfOutcome> SpfEvaluator::evaluate(const std::vector<SpfQuestion>& qs) {
    std::vector<SpfOutcome> out(qs.size());
    std::vector<size_t> open(qs.size());
    for (size_t i = 0; i < qs.size(); ++i) open[i] = i;
    rounds_ = 0;

    auto run_one = [&](const SpfQuestion& q, SpfOutcome& o) {
        using Req = std::unique_ptr<SPF_request_t, void (*)(SPF_request_t*)>;
        using Resp = std::unique_ptr<SPF_response_t, void (*)(SPF_response_t*)>;
        Req req(SPF_request_new(impl_->server), SPF_request_free);
        if (!req) throw Error(Exit::environment, "SPF_INIT", "SPF_request_new failed");
        const bool v6 = q.ip.find(':') != std::string::npos;
        if ((v6 ? SPF_request_set_ipv6_str(req.get(), q.ip.c_str())
                : SPF_request_set_ipv4_str(req.get(), q.ip.c_str())) != SPF_E_SUCCESS) {
            o = {"permerror", "'" + q.ip + "' is not an IP address"};
            return;
        }
        const std::string from = "postmaster@" + q.domain;
        if (SPF_request_set_env_from(req.get(), from.c_str()) != 0) {
            o = {"none", "'" + q.domain + "' is not a usable domain name"};
            return;
        }
        SPF_response_t* raw = nullptr;
        SPF_errcode_t err = SPF_request_query_mailfrom(req.get(), &raw);
        Resp resp(raw, SPF_response_free);
        if (!resp) throw Error(Exit::environment, "SPF_INIT", "SPF_request_query_mailfrom: no memory");
        std::string errors;
        bool syntax = false;
        for (int i = 0; i < SPF_response_messages(resp.get()); ++i) {
            SPF_error_t* e = SPF_response_message(resp.get(), i);
            if (!SPF_error_errorp(e)) continue;
            const SPF_errcode_t code = SPF_error_code(e);
            if (code != SPF_E_NOT_SPF && code != SPF_E_DNS_ERROR) syntax = true;
            if (!errors.empty()) errors += "; ";
            errors += SPF_error_message(e) ? SPF_error_message(e) : SPF_strerror(code);
        }
        std::string word = result_word(SPF_response_result(resp.get()));
        if (word.empty()) {
            // libspf2 leaves the result unset when it could not get or
            // compile the record: map its error code to RFC 7208's words.
            if (err == SPF_E_DNS_ERROR)
                word = "temperror";
            else if (syntax || err == SPF_E_MULTIPLE_RECORDS)
                word = "permerror";
            else
                word = "none";
        }
        o.result = word;
        if (!errors.empty())
            o.explanation = errors;
        else if (const char* c = SPF_response_get_header_comment(resp.get()))
            o.explanation = c;
    };

    for (; !open.empty() && rounds_ <= kMaxRounds; ++rounds_) {
        impl_->misses.clear();
        std::vector<size_t> again;
        for (size_t i : open) {
            impl_->state.missed = 0;
            run_one(qs[i], out[i]);
            if (impl_->state.missed) again.push_back(i);
        }
        open.swap(again);
        if (open.empty() || impl_->misses.empty()) break;
        std::vector<Query> batch(impl_->misses.begin(), impl_->misses.end());
        for (const auto& a : resolver_.resolve(batch)) cache_.put(a);
    }
    for (size_t i : open)
        out[i] = {"temperror", "SPF evaluation needed more than " + std::to_string(kMaxRounds) +
                                   " rounds of DNS look-ups"};
    return out;
}

bool is_loopback_ip(const std::string& ip) {
    in_addr a4{};
    in6_addr a6{};
    if (inet_pton(AF_INET, ip.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, ip.c_str(), &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

std::vector<std::string> spf_records(const std::vector<std::string>& txt) {
    std::vector<std::string> out;
    for (const auto& t : txt) {
        // RFC 7208 4.5: "v=spf1" exactly, followed by a space or the end.
        if (t.size() >= 6 && lower(t.substr(0, 6)) == "v=spf1" && (t.size() == 6 || t[6] == ' '))
            out.push_back(t);
    }
    return out;
}

bool spf_has_include(const std::string& record, const std::string& include) {
    std::istringstream in(record);
    const std::string want = "include:" + lower(include);
    for (std::string t; in >> t;) {
        t = lower(t);
        if (!t.empty() && (t[0] == '+' || t[0] == '~' || t[0] == '?')) t.erase(0, 1);
        if (!t.empty() && t.back() == '.') t.pop_back();
        if (t == want) return true;
    }
    return false;
}

std::string merge_spf_records(const std::vector<std::string>& records, const std::string& include) {
    std::vector<std::string> mechanisms, modifiers;
    std::set<std::string> seen;
    std::string all, redirect;
    for (const auto& r : records) {
        std::istringstream in(r);
        for (std::string t; in >> t;) {
            const std::string l = lower(t);
            if (l == "v=spf1") continue;
            const std::string bare =
                (l[0] == '+' || l[0] == '-' || l[0] == '~' || l[0] == '?') ? l.substr(1) : l;
            if (bare == "all") {
                if (all.empty()) all = t;
                continue;
            }
            if (l.rfind("redirect=", 0) == 0) {
                if (redirect.empty()) redirect = t;
                continue;
            }
            if (!seen.insert(l).second) continue;
            (l.find('=') != std::string::npos && l.find(':') > l.find('=') ? modifiers : mechanisms)
                .push_back(t);
        }
    }
    std::string out = "v=spf1";
    for (const auto& m : mechanisms) out += " " + m;
    std::string probe = "v=spf1";
    for (const auto& m : mechanisms) probe += " " + m;
    if (!spf_has_include(probe, include)) out += " include:" + include;
    for (const auto& m : modifiers) out += " " + m;
    // With an `all`, a redirect= is never used (RFC 7208 6.1): keep one.
    if (!all.empty())
        out += " " + all;
    else if (!redirect.empty())
        out += " " + redirect;
    return out;
}

}  // namespace outpost::dns
