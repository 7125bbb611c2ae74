// cidr.cpp - prefix matching for IPv4 and IPv6 (IPv4-mapped IPv6 counts as IPv4).
#include "store/cidr.h"

#include <arpa/inet.h>

#include <cstdlib>
#include <cstring>

namespace outpost {
namespace {

// An IPv4-mapped IPv6 address (::ffff:a.b.c.d, in any spelling, hex
// included) is taken as the IPv4 address; `mapped` says it was one.
bool parse_ip(const std::string& ip, int& family, std::array<unsigned char, 16>& out, bool& mapped) {
    mapped = false;
    if (inet_pton(AF_INET, ip.c_str(), out.data()) == 1) {
        family = AF_INET;
        return true;
    }
    in6_addr a6{};
    if (inet_pton(AF_INET6, ip.c_str(), &a6) != 1) return false;
    out = {};
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
        family = AF_INET;
        mapped = true;
        std::memcpy(out.data(), a6.s6_addr + 12, 4);
    } else {
        family = AF_INET6;
        std::memcpy(out.data(), a6.s6_addr, 16);
    }
    return true;
}

}  // namespace

std::optional<Cidr> Cidr::parse(const std::string& text) {
    Cidr c;
    std::string ip = text;
    int prefix = -1;
    if (auto slash = text.find('/'); slash != std::string::npos) {
        ip = text.substr(0, slash);
        const std::string p = text.substr(slash + 1);
        if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos)
            return std::nullopt;
        prefix = std::atoi(p.c_str());
    }
    bool mapped = false;
    if (!parse_ip(ip, c.family, c.addr, mapped)) return std::nullopt;
    if (mapped && prefix >= 0) {
        // ::ffff:0:0/96 and longer are IPv4 networks; a shorter prefix
        // would cover IPv6 addresses that are not IPv4 at all.
        if (prefix < 96) return std::nullopt;
        prefix -= 96;
    }
    const int max = c.family == AF_INET ? 32 : 128;
    if (prefix > max) return std::nullopt;
    c.prefix = prefix < 0 ? max : prefix;
    return c;
}

bool Cidr::contains(const std::string& ip) const {
    int fam = 0;
    std::array<unsigned char, 16> a{};
    bool mapped = false;
    if (!parse_ip(ip, fam, a, mapped) || fam != family) return false;
    int bits = prefix;
    for (size_t i = 0; bits > 0; ++i, bits -= 8) {
        unsigned char mask = bits >= 8 ? 0xff : static_cast<unsigned char>(0xff << (8 - bits));
        if ((a[i] & mask) != (addr[i] & mask)) return false;
    }
    return true;
}

std::string Cidr::str() const {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(family, addr.data(), buf, sizeof buf);
    return std::string(buf) + "/" + std::to_string(prefix);
}

}  // namespace outpost
