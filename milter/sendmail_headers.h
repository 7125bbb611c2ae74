// sendmail_headers.h - address headers in the form Sendmail keeps.
//
// Sendmail re-writes every address header (its H_FROM and H_RCPT headers:
// From, Sender, Reply-To, To, Cc, Resent-*, Errors-To,
// Disposition-Notification-To, Apparently-To) when it delivers, after the
// milter has seen and signed it (headers.c, putheader -> commaize):
//   - the list is split at commas and written back joined by ", " (no
//     space before a comma, one after; long lists folded at 78 columns);
//   - a display name holding one of its MustQuoteChars (by default . and '
//     besides the specials) outside quotes and comments is put in quotes:
//     "J. Doe" <j@example.com>;
//   - an address without a domain gets "@" and the relay's host name.
// Under relaxed canonicalization folding does not matter, the rest does.
// sendmail_address_form() gives a value in a form Sendmail writes back as
// it is (quoting a display name properly where Sendmail would quote it),
// and names an unqualified address, which outpost refuses rather than guess
// the domain Sendmail would add. Nothing here decodes or validates RFC 5322
// beyond what that needs: the From policy stays in from_header.h.
#pragma once

#include <string>
#include <string_view>

namespace outpost::milter {

// True if `v` (the MTA's macro v) is a Sendmail version ("8.17.1.9"), as
// opposed to Postfix ("Postfix 3.7.11") or nothing.
bool is_sendmail_version(std::string_view v);

// True for the headers Sendmail re-writes address by address (Bcc and
// Resent-Bcc are not listed: Sendmail removes them, outpost never signs them).
bool sendmail_address_header(std::string_view name);

struct SendmailAddressForm {
    std::string value;        // the value without leading whitespace
    std::string unqualified;  // the first address without a domain, "" if none
};

// `value`: a header value as the MTA passed it (leading whitespace and
// folding allowed).
SendmailAddressForm sendmail_address_form(std::string_view value);

}  // namespace outpost::milter
