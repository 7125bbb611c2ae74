// fuzz_track_rewrite.cpp - the track stage's body rewriting
// (milter/track_rewrite.h track_message).
// Input: one octet of options (bit 0 clicks, 1 opens, 2 footer, 3 an
// unsubscribe URL, 4 the click callback declines links holding "keep"),
// then a whole message: the header section up to the first CRLF CRLF,
// the body after it (at most 256 KB).
// Invariants: never crashes and never throws (the callback does not
// throw); a message left alone has an empty body and counts nothing;
// with nothing asked (no clicks, no pixel, no footer, no URL) the message
// is left alone; links rewritten are no more than the URLs the callback
// replaced; a pixel only when opens were asked, a footer only when a
// footer and a URL were; every URL handed to the callback is a non-empty
// string.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "milter/track_rewrite.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1 || size > 256 * 1024) return 0;
    const uint8_t flags = data[0];
    const std::string_view raw(reinterpret_cast<const char*>(data) + 1, size - 1);
    const size_t blank = raw.find("\r\n\r\n");
    const std::string_view headers = blank == std::string_view::npos ? raw : raw.substr(0, blank + 2);
    const std::string_view body = blank == std::string_view::npos ? std::string_view() : raw.substr(blank + 4);

    outpost::milter::TrackOptions opt;
    opt.clicks = flags & 1;
    opt.opens = flags & 2;
    opt.footer = flags & 4;
    if (flags & 8) opt.unsubscribe_url = "https://t.relay.example/u/2fz1.AAAA";
    if (opt.opens) opt.pixel_url = "https://t.relay.example/o/2fz1.BBBB";
    const bool decline = flags & 16;
    int replaced = 0;
    opt.click_url = [&](const std::string& url) -> std::string {
        if (url.empty()) std::abort();
        if (decline && url.find("keep") != std::string::npos) return "";
        ++replaced;
        return "https://t.relay.example/c/2fz1.CCCC" + std::to_string(replaced);
    };
    opt.max_part_bytes = 1u << 20;

    const outpost::milter::TrackResult r = outpost::milter::track_message(headers, body, opt);
    if (!r.changed) {
        if (!r.body.empty() || r.links != 0 || r.placeholders != 0 || r.pixel || r.footer) std::abort();
    }
    const bool asked = opt.clicks || opt.opens || opt.footer || !opt.unsubscribe_url.empty();
    if (!asked && r.changed) std::abort();
    if (r.links > replaced || (!opt.clicks && r.links != 0)) std::abort();
    if (r.pixel && !opt.opens) std::abort();
    if (r.footer && (!opt.footer || opt.unsubscribe_url.empty())) std::abort();
    if (r.placeholders != 0 && opt.unsubscribe_url.empty()) std::abort();
    return 0;
}
