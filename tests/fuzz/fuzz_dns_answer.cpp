// fuzz_dns_answer.cpp - what outpost reads of libunbound's results
// (dns/resolver.h read_rdata, cname_chain).
// Input: the first octet picks the query type (A, CNAME, PTR, MX, TXT,
// AAAA, SPF); the rest is read twice: as one record's data of that type,
// and as the answer packet for "mail.example.test" whose CNAME records
// lead to "keys.example.test" (at most 16 KB).
// Invariants: never reads outside the input (the sanitizers see it) and
// never crashes; accepted data gives A and AAAA values that are addresses
// in their text form, MX values "PREF host", TXT values no longer than the
// data, names of at most 1,025 octets; the chain starts at the question,
// ends at the final name, and has at most one name more than the CNAME
// records the packet can hold.
#include <arpa/inet.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "dns/resolver.h"

using outpost::dns::RRType;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1 || size > 16384) return 0;
    static constexpr RRType kTypes[] = {RRType::A,   RRType::CNAME, RRType::PTR, RRType::MX,
                                        RRType::TXT, RRType::AAAA,  RRType::SPF};
    const RRType type = kTypes[data[0] % 7];
    const unsigned char* rest = data + 1;
    const size_t len = size - 1;

    const std::string q = "mail.example.test", canonical = "keys.example.test";
    const auto chain = outpost::dns::cname_chain(rest, len, q, canonical);
    if (chain.size() < 2 || chain.front() != q || chain.back() != canonical) std::abort();
    if (chain.size() > 2 + len / 11) std::abort();  // one CNAME record (>= 11 octets) per step

    std::string v;
    if (!outpost::dns::read_rdata(type, rest, len, v)) return 0;
    unsigned char buf[16];
    switch (type) {
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
            if (v.size() - sp - 1 > 1025) std::abort();
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
    return 0;
}
