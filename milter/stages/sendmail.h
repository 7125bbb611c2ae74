// sendmail.h - address headers as Sendmail will deliver them (only when the
// MTA is Sendmail; between return-path and sign).
//
// Sendmail re-writes From, To, Cc and the other address headers after the
// milter signed them (milter/sendmail_headers.h). For mail outpost signs,
// on a connection from Sendmail (macro v is a Sendmail version), this
// stage decides at end of headers the form Sendmail keeps for each such
// header, gives it to the signer, and at end of message replaces the
// header with it (smfi_chgheader) where it differs, so what is signed is
// what Sendmail delivers. A header holding an address without a domain
// (Sendmail would add its own host name after signing) is refused:
//     550 5.7.1 UNQUALIFIED_ADDRESS Cc: "bob" has no domain; ...
// Postfix passes headers through unchanged: on its connections the stage
// does nothing.
#pragma once

#include "milter/stage.h"

namespace outpost::milter {

class SendmailStage : public Stage {
public:
    const char* name() const override { return "sendmail"; }
    StageResult end_of_headers(Message& m) override;
    StageResult end_of_message(Message& m) override;
};

}  // namespace outpost::milter
