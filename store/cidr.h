// cidr.h - client networks for mapping a connecting address to a key.
#pragma once

#include <array>
#include <optional>
#include <string>

namespace outpost {

struct Cidr {
    int family = 0;  // AF_INET or AF_INET6
    std::array<unsigned char, 16> addr{};
    int prefix = 0;

    // "192.0.2.0/24", "2001:db8::/32", or a bare address (a /32 or /128).
    // An IPv4-mapped network is its IPv4 network, in any spelling:
    // ::ffff:192.0.2.0/120 and ::ffff:c000:200/120 are 192.0.2.0/24 (a
    // prefix under 96 is refused).
    static std::optional<Cidr> parse(const std::string& text);
    bool contains(const std::string& ip) const;
    std::string str() const;
};

}  // namespace outpost
