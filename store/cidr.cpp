// cidr.cpp - prefix matching for IPv4 and IPv6 (IPv4-mapped IPv6 counts as IPv4).
#include "store/cidr.h"

#include <arpa/inet.h>

#include <cstdlib>

namespace outpost {
namespace {

bool parse_ip(std::string ip, int& family, std::array<unsigned char, 16>& out) {
    if (ip.rfind("::ffff:", 0) == 0 && ip.find('.') != std::string::npos) ip = ip.substr(7);
    if (inet_pton(AF_INET, ip.c_str(), out.data()) == 1) {
        family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, ip.c_str(), out.data()) == 1) {
        family = AF_INET6;
        return true;
    }
    return false;
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
    if (!parse_ip(ip, c.family, c.addr)) return std::nullopt;
    const int max = c.family == AF_INET ? 32 : 128;
    if (prefix > max) return std::nullopt;
    c.prefix = prefix < 0 ? max : prefix;
    return c;
}

bool Cidr::contains(const std::string& ip) const {
    int fam = 0;
    std::array<unsigned char, 16> a{};
    if (!parse_ip(ip, fam, a) || fam != family) return false;
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
