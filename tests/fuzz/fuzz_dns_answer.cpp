// fuzz_dns_answer.cpp - DNS responses (dns/resolver.h parse_answer).
// Input: the first octet picks the query type (A, CNAME, PTR, MX, TXT,
// AAAA, SPF); the rest is the raw response packet for
// "mail.example.test" of that type (at most 16 KB).
// Invariants: never reads outside the packet (the sanitizers see it) and
// never crashes; an accepted packet gives a chain starting at the query
// name, one name long when the query is for a CNAME and at most one name
// longer than the CNAME records the packet can hold; A and AAAA values are
// addresses in their text form, MX values "PREF host"; no TXT value is
// longer than the packet.
#include <arpa/inet.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "dns/resolver.h"

using outpost::dns::Answer;
using outpost::dns::Query;
using outpost::dns::RRType;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1 || size > 16384) return 0;
    static constexpr RRType kTypes[] = {RRType::A,   RRType::CNAME, RRType::PTR, RRType::MX,
                                        RRType::TXT, RRType::AAAA,  RRType::SPF};
    const Query q{"mail.example.test", kTypes[data[0] % 7]};
    const unsigned char* pkt = data + 1;
    const size_t len = size - 1;
    Answer a;
    a.query = q;
    if (!outpost::dns::parse_answer(pkt, len, q, a)) return 0;
    if (a.chain.empty() || a.chain.front() != q.name) std::abort();
    if (q.type == RRType::CNAME && a.chain.size() != 1) std::abort();
    if (a.chain.size() > 1 + len / 11) std::abort();  // one CNAME record (>= 11 octets) per step
    for (const auto& v : a.values) {
        unsigned char buf[16];
        switch (q.type) {
            case RRType::A:
                if (inet_pton(AF_INET, v.c_str(), buf) != 1) std::abort();
                break;
            case RRType::AAAA:
                if (inet_pton(AF_INET6, v.c_str(), buf) != 1) std::abort();
                break;
            case RRType::MX: {
                const size_t sp = v.find(' ');
                if (sp == std::string::npos || sp == 0 || sp > 5) std::abort();
                for (size_t i = 0; i < sp; ++i)
                    if (v[i] < '0' || v[i] > '9') std::abort();
                if (std::stol(v.substr(0, sp)) > 65535) std::abort();
                break;
            }
            case RRType::TXT:
            case RRType::SPF:
                if (v.size() > len) std::abort();
                break;
            case RRType::CNAME:
            case RRType::PTR:
                if (v.size() > 1025) std::abort();
                break;
        }
    }
    return 0;
}
