// from_header.h - the one From address a message is authorized by.
//
// RFC 5322 From parsing is done by GMime (internet_address_list_parse),
// never by hand; this file adds the policy around it: the header's
// structure checked first (quotes, comments and angle brackets that pair,
// no ',' ';' ':' or unquoted '@' before the '<' outside them: see
// check_structure in from_header.cpp, which is why GMime runs in its loose
// mode, whose strict one leaks), then
// exactly one From header holding exactly one mailbox (no group, no list),
// a domain that is a plain host name (no encoded words, no domain literal),
// no NUL, no bare CR, no other control characters, at most kMaxFromLength
// octets, and a mailbox that appears literally in the header (so nothing
// GMime decoded, such as an encoded word, can become the address).
// The domain is normalized with normalize_domain (IDNA A-label, lower case,
// no trailing dot).
#pragma once

#include <string>
#include <vector>

namespace outpost::milter {

inline constexpr size_t kMaxFromLength = 998;

struct FromResult {
    bool ok = false;
    std::string error;    // why it was refused (for the FROM_INVALID reply)
    std::string address;  // local@domain as written
    std::string domain;   // normalized A-label domain
};

// `values`: the value of every From header of the message, in order.
FromResult parse_from(const std::vector<std::string>& values);

}  // namespace outpost::milter
