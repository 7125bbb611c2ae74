// track_html.h - the HTML edits of the track stage, on one decoded part.
//
// The part's bytes are parsed by gumbo in their own charset (only charsets in
// which markup is plain ASCII are accepted by the caller): gumbo reports
// attribute values and end tags as pointers into the buffer it was given, so
// an edit replaces exactly the bytes of one href value, or inserts before
// </body>, and every other byte stays as it was. gumbo assumes UTF-8, so in
// another charset a decoded value is only trusted when its raw bytes are
// ASCII; otherwise the raw value is converted to UTF-8 by GMime and decoded
// again by gumbo.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "milter/track_rewrite.h"

namespace outpost::milter {

// What to do to one HTML part besides placeholders and links.
struct HtmlPlan {
    std::string charset;  // GMime canonical name of the part's charset
    bool utf8 = false;    // charset is UTF-8 (values are trusted as gumbo decodes them)
    bool ascii = false;   // charset is US-ASCII (8-bit bytes in a value are an error)
    bool pixel = false;   // insert the open pixel (opt.pixel_url)
    bool footer = false;  // insert the unsubscribe footer (opt.unsubscribe_url)
};

struct HtmlOutcome {
    bool changed = false;
    std::string html;  // the new content, when changed
    int links = 0;
    int placeholders = 0;
    bool pixel = false;
    bool footer = false;
    std::vector<std::string> notes;  // without the part's name
};

// Replaces placeholders (when opt.unsubscribe_url is set), rewrites links
// (when opt.clicks), inserts footer and pixel as `plan` says. The line end
// of inserted text follows `html` (CRLF unless it holds only LF).
HtmlOutcome rewrite_html(std::string_view html, const HtmlPlan& plan, const TrackOptions& opt);

}  // namespace outpost::milter
