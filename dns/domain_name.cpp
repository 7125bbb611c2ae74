// domain_name.cpp - IDNA via libidn2, public suffixes via libpsl.
#include "dns/domain_name.h"

#include <idn2.h>
#include <libpsl.h>

#include <algorithm>
#include <memory>

#include "base/error.h"

namespace outpost {
namespace {

const psl_ctx_t* psl() {
    // psl_latest() prefers the system list (package publicsuffix) when it is
    // newer than the one built into libpsl.
    static const psl_ctx_t* ctx = [] {
        psl_ctx_t* c = psl_latest(nullptr);
        return c ? static_cast<const psl_ctx_t*>(c) : psl_builtin();
    }();
    return ctx;
}

[[noreturn]] void invalid(const std::string& input, const std::string& why) {
    throw Error(Exit::invalid, "DOMAIN_INVALID",
                "'" + input + "' is not a valid domain name: " + why +
                    "; give a name such as example.com or mail.example.co.uk");
}

struct FreeDeleter {
    void operator()(char* p) const { idn2_free(p); }
};

}  // namespace

DomainName normalize_domain(const std::string& input) {
    std::string s = input;
    if (s.empty()) invalid(input, "it is empty");
    if (s.find_first_of(std::string(" \t\r\n\0@/\\", 9)) != std::string::npos)
        invalid(input, "it contains a space, '@', a slash or a control character");
    if (s.back() == '.') s.pop_back();
    if (s.empty() || s.front() == '.') invalid(input, "it has an empty label");

    char* out = nullptr;
    int rc = idn2_to_ascii_8z(s.c_str(), &out, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
    if (rc != IDN2_OK) invalid(input, std::string("IDNA: ") + idn2_strerror(rc));
    std::unique_ptr<char, FreeDeleter> ascii_guard(out);
    std::string ascii(out);
    std::transform(ascii.begin(), ascii.end(), ascii.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });

    if (ascii.size() > 253) invalid(input, "it is longer than 253 octets");
    size_t labels = 0, start = 0;
    while (start <= ascii.size()) {
        size_t dot = ascii.find('.', start);
        if (dot == std::string::npos) dot = ascii.size();
        std::string label = ascii.substr(start, dot - start);
        if (label.empty()) invalid(input, "it has an empty label");
        if (label.size() > 63) invalid(input, "the label '" + label + "' is longer than 63 octets");
        for (char c : label)
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
                invalid(input, "the label '" + label +
                                   "' has a character other than letters, "
                                   "digits and '-'");
        if (label.front() == '-' || label.back() == '-')
            invalid(input, "the label '" + label + "' starts or ends with '-'");
        ++labels;
        start = dot + 1;
    }
    if (psl_is_public_suffix2(psl(), ascii.c_str(), PSL_TYPE_ANY | PSL_TYPE_NO_STAR_RULE))
        throw Error(Exit::invalid, "DOMAIN_IS_PUBLIC_SUFFIX",
                    "'" + input +
                        "' is a public suffix, not a domain anyone can own; "
                        "add a domain registered under it, such as example." +
                        ascii);
    if (labels < 2) invalid(input, "a sending domain needs at least two labels");

    std::string unicode = ascii;
    char* u = nullptr;
    if (idn2_to_unicode_8z8z(ascii.c_str(), &u, 0) == IDN2_OK && u) {
        unicode = u;
        idn2_free(u);
    }
    return {ascii, unicode};
}

std::string organizational_domain(const std::string& ascii_name) {
    const char* r = psl_registrable_domain(psl(), ascii_name.c_str());
    return r ? std::string(r) : std::string();
}

std::string normalize_address(const std::string& address) {
    auto at = address.rfind('@');
    if (at == std::string::npos || at == 0 || at + 1 >= address.size() || address.size() > 320 ||
        address.find_first_of(" \t\r\n<>\"") != std::string::npos)
        throw Error(Exit::invalid, "ADDRESS_INVALID",
                    "'" + address + "' is not an e-mail address such as user@example.com");
    std::string local = address.substr(0, at);
    std::transform(local.begin(), local.end(), local.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return local + "@" + normalize_domain(address.substr(at + 1)).ascii;
}

}  // namespace outpost
