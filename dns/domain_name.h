// domain_name.h - normalizing the domain names administrators and senders type.
#pragma once

#include <string>

namespace outpost {

struct DomainName {
    std::string ascii;    // A-label form, lower case, no trailing dot
    std::string unicode;  // U-label form for display
};

// IDNA2008 (libidn2, non-transitional) to A-labels, lower case, trailing dot
// removed; rejects empty labels, labels over 63 octets, names over 253,
// single-label names and bare public suffixes (com, co.uk) with
// Error(Exit::invalid, "DOMAIN_INVALID" | "DOMAIN_IS_PUBLIC_SUFFIX").
DomainName normalize_domain(const std::string& input);

// The organizational domain (public suffix list, libpsl): the registrable
// part of `ascii_name`, or "" if it has none.
std::string organizational_domain(const std::string& ascii_name);

// Lower-cased, checked e-mail address (local@domain, domain normalized as
// above). Throws Error(ADDRESS_INVALID).
std::string normalize_address(const std::string& address);

}  // namespace outpost
