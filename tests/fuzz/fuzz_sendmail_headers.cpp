// fuzz_sendmail_headers.cpp - the milter's readers of raw header text:
// Sendmail's address-list form (milter/sendmail_headers.h), the relaxed
// header canonicalization the signer hashes (milter/dkim_signer.h
// relaxed_header) and the RCPT TO argument reader
// (milter/stages/suppress.h recipient_address).
// Input: a header name, "\n", then the header value as the MTA passes it
// (folding, any octet; at most 64 KB).
// Invariants: never crashes. sendmail_address_form gives a value without
// leading white space, is a fixed point (what it gives, given again, comes
// back unchanged: the form Sendmail keeps as it is) and finds the same
// unqualified address again. relaxed_header gives "name:value" CRLF with
// the name lower case and free of WSP, the value without line breaks, tabs,
// runs of spaces or spaces at its ends, and is idempotent. The RCPT reader
// gives "" or a lower-case address with one '@' inside.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "milter/dkim_signer.h"
#include "milter/sendmail_headers.h"
#include "milter/stages/suppress.h"

namespace ms = outpost::milter;

namespace {

void check_relaxed(std::string_view name, std::string_view value) {
    const std::string r = ms::relaxed_header(name, value);
    if (r.size() < 3 || r.compare(r.size() - 2, 2, "\r\n") != 0) std::abort();
    const size_t colon = r.find(':');
    if (colon == std::string::npos) std::abort();
    for (size_t i = 0; i < colon; ++i)
        if ((r[i] >= 'A' && r[i] <= 'Z') || r[i] == ' ' || r[i] == '\t') std::abort();
    if (name.find(':') == std::string_view::npos) {
        const std::string_view v = std::string_view(r).substr(colon + 1, r.size() - colon - 3);
        if (!v.empty() && (v.front() == ' ' || v.back() == ' ')) std::abort();
        if (v.find('\n') != std::string_view::npos || v.find('\t') != std::string_view::npos ||
            v.find("  ") != std::string_view::npos)
            std::abort();
        const std::string again =
            ms::relaxed_header(std::string_view(r).substr(0, colon), v);
        if (again != r) std::abort();
    }
    if (ms::relaxed_header(name, value, false) != r.substr(0, r.size() - 2)) std::abort();
}

void check_rcpt(const std::string& rcpt) {
    const std::string a = ms::recipient_address(rcpt);
    if (a.empty()) return;
    const size_t at = a.rfind('@');
    if (at == std::string::npos || at == 0 || at + 1 == a.size()) std::abort();
    for (char c : a)
        if (c >= 'A' && c <= 'Z') std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 65536) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const size_t nl = in.find('\n');
    const std::string_view name = in.substr(0, std::min(nl, size_t(256)));
    const std::string_view value = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);

    (void)ms::sendmail_address_header(name);
    (void)ms::is_sendmail_version(value);
    const ms::SendmailAddressForm f = ms::sendmail_address_form(value);
    if (!f.value.empty() && (f.value.front() == ' ' || f.value.front() == '\t' || f.value.front() == '\r' ||
                             f.value.front() == '\n'))
        std::abort();
    const ms::SendmailAddressForm again = ms::sendmail_address_form(f.value);
    if (again.value != f.value || again.unqualified != f.unqualified) std::abort();

    check_relaxed(name, value);
    check_rcpt(std::string(value.substr(0, 1024)));
    return 0;
}
