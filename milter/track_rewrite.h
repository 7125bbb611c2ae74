// track_rewrite.h - the body rewriting behind the milter's track stage.
//
// track_message() rewrites the HTML and plain-text parts of one message for
// click tracking, the open pixel, the unsubscribe placeholder and the
// unsubscribe footer, and leaves every other byte of the message as it was.
//
// How: the raw message (headers, blank line, body) is parsed by GMime from a
// memory stream with the parser's persist-stream on, so each leaf part's
// content is a substream of that raw buffer and its bounds give the exact
// byte range of the part's encoded content. A part that is rewritten is
// decoded (Content-Transfer-Encoding, through GMime's filters), edited in its
// own charset (HTML through gumbo's source offsets, see track_html.h),
// re-encoded with the same transfer encoding, and spliced back in place of
// that range. Parts that are not rewritten are never re-encoded.
//
// What is considered: text/html and text/plain leaves that are not
// attachments, at any multipart depth up to kMaxMimeDepth. message/rfc822
// parts, multipart/signed and multipart/encrypted (a signature would break)
// and attachments are left alone. A message GMime reports as truncated,
// malformed or ambiguous (CRIT_* warnings: conflicting headers, a multipart
// without boundary, nesting overflow...) is left alone as a whole.
//
// One open pixel per message, in the main HTML part: the first text/html leaf
// that is not an attachment (the html alternative of a multipart/alternative).
// The footer goes into the main HTML part and the main text part (the first
// text/plain leaf that is not an attachment), and only when no eligible part
// holds the placeholder.
//
// Thread safety: track_message may be called from several threads at once
// (GMime is initialised once; no state is shared between calls).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace outpost::milter {

inline constexpr const char* kUnsubscribePlaceholder = "{{outpost_unsubscribe_url}}";

// Deeper multipart nesting than this is not descended into (GMime itself
// stops at 1024 and reports it, which leaves the whole message alone).
inline constexpr int kMaxMimeDepth = 32;

struct TrackOptions {
    bool clicks = false;  // rewrite <a href> http/https links
    bool opens = false;   // add a 1x1 open pixel to the main HTML part
    bool footer = false;  // add an unsubscribe footer when the message holds no placeholder
    // Replaces every placeholder; "" = leave placeholders and add no footer.
    std::string unsubscribe_url;
    // Original (entity-decoded, UTF-8, HTML-whitespace-trimmed) URL -> the URL
    // to put in the href instead; "" = leave this link as it is. Exceptions it
    // throws propagate out of track_message.
    std::function<std::string(const std::string& url)> click_url;
    std::string pixel_url;  // "" = no pixel

    // Resource limits for one part; a part over either is left alone with a
    // note. gumbo's time grows with the square of the element nesting depth,
    // and nesting can only be as deep as there are start tags, so capping the
    // start tags ("<" followed by a letter) caps the worst case (about 0.2 s
    // at 10000, deeply nested).
    size_t max_part_bytes = 4u << 20;  // decoded bytes
    size_t max_html_tags = 10000;
};

struct TrackResult {
    bool changed = false;  // false: deliver the body unchanged (body is empty then)
    std::string body;      // the new message body (CRLF line ends), when changed
    int links = 0;         // links rewritten
    int placeholders = 0;  // placeholders replaced
    bool pixel = false;
    bool footer = false;
    // Why a part or link was left alone, one short phrase each for the log,
    // parts named by their IMAP-style specifier ("part 1.2: charset utf-16
    // not supported").
    std::vector<std::string> notes;
};

// `headers`: the message's header section exactly as delivered, "Name: value\r\n"
// lines (folded lines kept), without the blank line.
// `body`: the message body as the MTA gave it (CRLF line ends).
// Never throws on bad input (malformed MIME or HTML, unknown charset, bad
// base64): the affected part, or the whole message, is left alone and a note
// says why. Throws only environment failures (std::bad_alloc) and what
// opt.click_url throws.
TrackResult track_message(std::string_view headers, std::string_view body, const TrackOptions& opt);

}  // namespace outpost::milter
