// line_length.h - never sign what the MTA will change: lines over the SMTP
// limit.
//
// RFC 5321 (4.5.3.1.6) limits a line to 998 octets before CRLF. Postfix
// (smtp_line_length_limit, default 998) and Sendmail (the mailer's L=, 990
// for its SMTP mailers) split longer lines when they relay the message —
// after the milter has signed it — so the receiver sees another header or
// body than the one signed and the signature fails (seen with a 1,500-octet
// body line and an unfolded 1,209-octet Subject). outpost refuses such mail
// instead of sending a signature that cannot verify:
//   a header line over the limit   550 5.6.0 LINE_TOO_LONG (at end of headers,
//                                  naming the header)
//   a body line over the limit     550 5.6.0 LINE_TOO_LONG (at end of message,
//                                  naming the line number and its length)
// The fix on the sender's side is to fold the header, or to send the part
// quoted-printable or base64 (what every mail library does when asked).
// Only mail outpost signs is checked (an authorized From domain); the limit
// is 998 octets, 990 under Sendmail. Re-encoding the part here instead was
// considered and left: it would change a message the sender may have signed
// or hashed itself, and most long lines come from one misconfigured
// template, which a clear refusal gets fixed.
#pragma once

#include <cstddef>

#include "milter/stage.h"

namespace outpost::milter {

// The longest line outpost signs: 998 octets, 990 for Sendmail.
size_t line_limit(const Session& s);

class LineLengthStage : public Stage {
public:
    const char* name() const override { return "line_length"; }
    StageResult end_of_headers(Message& m) override;
    void body(Message& m, const unsigned char* data, size_t len) override;
    StageResult end_of_message(Message& m) override;
};

}  // namespace outpost::milter
