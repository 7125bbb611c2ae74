// from_header.cpp - From header policy over GMime's RFC 5322 parser.
#include "milter/from_header.h"

#include <gmime/gmime.h>

#include <memory>
#include <mutex>

#include "dns/domain_name.h"
#include "base/error.h"
#include "base/gmime.h"

namespace outpost::milter {
namespace {

FromResult refuse(std::string why) {
    FromResult r;
    r.error = std::move(why);
    return r;
}

bool ascii_lower_contains(const std::string& hay, const std::string& needle) {
    if (needle.empty() || needle.size() > hay.size()) return false;
    auto lower = [](unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; };
    for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
        size_t j = 0;
        while (j < needle.size() &&
               lower(static_cast<unsigned char>(hay[i + j])) == lower(static_cast<unsigned char>(needle[j])))
            ++j;
        if (j == needle.size()) return true;
    }
    return false;
}

// Bytes a From header may hold: printable ASCII, folding (CRLF or LF followed
// by WSP, as MTAs pass it), HTAB, and valid UTF-8 (RFC 6532).
const char* check_bytes(const std::string& v) {
    for (size_t i = 0; i < v.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(v[i]);
        if (c == 0) return "the From header contains a NUL byte";
        if (c == '\r') {
            if (i + 1 >= v.size() || v[i + 1] != '\n') return "the From header contains a bare CR";
            continue;
        }
        if (c == '\n') {
            if (i + 1 >= v.size() || (v[i + 1] != ' ' && v[i + 1] != '\t'))
                return "the From header contains a bare LF";
            continue;
        }
        if (c < 0x20 && c != '\t') return "the From header contains a control character";
        if (c == 0x7f) return "the From header contains a control character";
    }
    if (!g_utf8_validate(v.data(), static_cast<gssize>(v.size()), nullptr))
        return "the From header is not valid UTF-8";
    return nullptr;
}

// What a single mailbox must look like outside quoted strings and comments,
// checked before GMime sees the header: angle brackets pair, one level deep
// ("a@x.test>b" and "<<a@x.test>>" are no RFC 5322 address), as do
// quotes and parentheses; no ',' (a
// second address), no ':' or ';' (a group); no '@' before the '<' (an address
// as the display name). GMime 3.2's strict address parser leaks the
// address and the name it has read on each of these (internet-address.c:
// the strict-only "goto error" paths after an addr-spec, and its recovery
// at the next comma), found by tests/fuzz/fuzz_from_header; its loose mode
// frees them, so GMime runs loose after this check, which refuses what the
// strict mode refused for structure (and a trailing "a@x.test,", which it
// let through). A fuzz run of 24 million inputs found no leak since.
const char* check_structure(const std::string& v) {
    bool quoted = false, open = false, at = false;
    int comment = 0;
    for (size_t i = 0; i < v.size(); ++i) {
        const char c = v[i];
        if (c == '\\') {
            ++i;  // the next octet is literal
            continue;
        }
        if (quoted) {
            if (c == '"') quoted = false;
            continue;
        }
        if (comment > 0) {
            if (c == '(') ++comment;
            if (c == ')') --comment;
            continue;
        }
        switch (c) {
            case '"':
                quoted = true;
                break;
            case '(':
                comment = 1;
                break;
            case ')':
                return "the From header has a ')' without its '('";
            case '<':
                if (open) return "the From header has a '<' inside an angle address";
                if (at) return "the From header has an unquoted '@' before its '<'";
                open = true;
                break;
            case '>':
                if (!open) return "the From header has a '>' without its '<'";
                open = false;
                break;
            case ',':
                return "the From header holds more than one address (a ',' outside quotes)";
            case ';':
                return "the From header is a group, not a mailbox (a ';' outside quotes)";
            case ':':
                if (!open) return "the From header is a group, not a mailbox (a ':' outside quotes)";
                break;
            case '@':
                if (!open) at = true;
                break;
            default:
                break;
        }
    }
    if (quoted) return "the From header has a quoted string without its closing '\"'";
    if (comment > 0) return "the From header has a comment without its closing ')'";
    if (open) return "the From header has a '<' without its '>'";
    return nullptr;
}

}  // namespace

FromResult parse_from(const std::vector<std::string>& values) {
    if (values.empty()) return refuse("the message has no From header");
    if (values.size() > 1)
        return refuse("the message has " + std::to_string(values.size()) + " From headers");
    const std::string& raw = values.front();
    if (raw.size() > kMaxFromLength)
        return refuse("the From header is longer than " + std::to_string(kMaxFromLength) + " octets");
    if (const char* why = check_bytes(raw)) return refuse(why);
    if (const char* why = check_structure(raw)) return refuse(why);

    gmime_init_once();
    std::unique_ptr<GMimeParserOptions, decltype(&g_mime_parser_options_free)> opts(
        g_mime_parser_options_new(), &g_mime_parser_options_free);
    // Loose: the strict mode leaks on malformed input (check_structure);
    // what it would refuse for structure is refused above.
    g_mime_parser_options_set_address_compliance_mode(opts.get(), GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_allow_addresses_without_domain(opts.get(), FALSE);
    std::unique_ptr<InternetAddressList, decltype(&g_object_unref)> list(
        internet_address_list_parse(opts.get(), raw.c_str()), &g_object_unref);
    if (!list) return refuse("the From header is not an RFC 5322 address");
    const int n = internet_address_list_length(list.get());
    if (n != 1)
        return refuse(n == 0 ? "the From header holds no address"
                             : "the From header holds " + std::to_string(n) + " addresses");
    InternetAddress* ia = internet_address_list_get_address(list.get(), 0);
    if (INTERNET_ADDRESS_IS_GROUP(ia)) return refuse("the From header is a group, not a mailbox");
    if (!INTERNET_ADDRESS_IS_MAILBOX(ia)) return refuse("the From header holds no mailbox");
    const char* addr_c = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
    const std::string addr = addr_c ? addr_c : "";
    const auto at = addr.rfind('@');
    if (at == std::string::npos || at == 0 || at + 1 >= addr.size())
        return refuse("the From address has no domain");
    const std::string domain = addr.substr(at + 1);
    if (domain.find("=?") != std::string::npos || domain.find("?=") != std::string::npos)
        return refuse("the From domain is an encoded word");
    if (domain.front() == '[') return refuse("the From domain is an address literal");
    for (unsigned char c : domain)
        if (c < 0x80 && !(std::isalnum(c) || c == '.' || c == '-'))
            return refuse("the From domain contains '" + std::string(1, static_cast<char>(c)) + "'");
    // The mailbox must be written in the header as such: anything GMime had
    // to decode to find it (encoded words, comments inside it) is refused.
    if (!ascii_lower_contains(raw, addr)) return refuse("the From address is not written plainly");
    FromResult r;
    try {
        r.domain = normalize_domain(domain).ascii;
    } catch (const Error& e) {
        return refuse("the From domain '" + domain + "' is not a valid domain name");
    }
    r.ok = true;
    r.address = addr;
    return r;
}

}  // namespace outpost::milter
