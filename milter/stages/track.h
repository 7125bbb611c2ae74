// track.h - open pixel, click links, the unsubscribe placeholder and footer
// (DESIGN.md step 6, between unsubscribe and sign).
//
// At end of headers the stage decides whether the message may need
// rewriting: the From domain has opens, clicks or the unsubscribe footer
// on, or an unsubscribe URL the placeholder {{outpost_unsubscribe_url}}
// could take, and the top-level Content-Type is text/* or multipart/* (no
// Content-Type is text/plain). Only then is the body buffered, up to
// tracking.max_bytes; a larger message is delivered untracked with a log
// line and the untracked_too_large stat — never refused, never truncated.
// Mail of a domain with opens, clicks and the footer off is held only for
// the placeholder, up to kPlaceholderOnlyBytes; a larger one goes as it
// came (log line placeholder=unchecked). Such mail is not given to the MIME
// parser at all unless it holds the placeholder as is or has a
// quoted-printable or base64 text part (where it could hide).
//
// At end of message the buffered body goes through track_message()
// (milter/track_rewrite.h: GMime for the MIME structure, gumbo for the HTML,
// every byte outside the rewritten values kept). If anything changed, the
// body is replaced (smfi_replacebody) and the sign stage signs the new body.
// Links are https://HOST/c/TOKEN and the pixel https://HOST/o/TOKEN, where
// HOST is the domain's tracking host (see unsubscribe.h) and TOKEN a click or
// open token (store/tokens.h) naming the domain, the queue id, the URL and,
// when the transaction has one recipient, that recipient's digest (unique
// opens and clicks; with several recipients tracking is per message).
//
// Nothing the stage does can refuse a message for its content: malformed
// MIME or HTML, unknown charsets, parts it cannot re-encode are left as they
// are and named in the log line (tracked=...).
#pragma once

#include "milter/stage.h"

namespace outpost::milter {

// The most of an untracked message held for the unsubscribe placeholder.
inline constexpr size_t kPlaceholderOnlyBytes = size_t(1) << 20;


class TrackStage : public Stage {
public:
    const char* name() const override { return "track"; }
    StageResult end_of_headers(Message& m) override;
    void body(Message& m, const unsigned char* data, size_t len) override;
    StageResult end_of_message(Message& m) override;
};

}  // namespace outpost::milter
