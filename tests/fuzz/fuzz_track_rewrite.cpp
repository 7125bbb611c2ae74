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
// string. A message that changed still parses, into the same MIME tree
// (the same parts, of the same types, in the same order), and every part
// the stage may not rewrite (anything but text/html and text/plain that are
// not attachments) keeps its encoded content byte for byte. Time (10 s an
// input) and memory (2 GB) are bounded by the fuzz.* test's options.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "base/gmime.h"
#include "message_input.h"
#include "milter/track_rewrite.h"

namespace {

struct Part {
    std::string type;  // "text/html", "multipart/mixed", ...
    bool rewritable = false;
    std::string raw;  // a leaf's encoded content, when not rewritable
};

void visit(GMimeObject*, GMimeObject* object, gpointer data) {
    auto* out = static_cast<std::vector<Part>*>(data);
    Part p;
    GMimeContentType* ct = g_mime_object_get_content_type(object);
    if (ct) {
        const char* type = g_mime_content_type_get_media_type(ct);
        const char* sub = g_mime_content_type_get_media_subtype(ct);
        p.type = std::string(type ? type : "") + "/" + (sub ? sub : "");
    }
    if (GMIME_IS_PART(object)) {
        GMimePart* part = GMIME_PART(object);
        p.rewritable = ct && (g_mime_content_type_is_type(ct, "text", "html") ||
                              g_mime_content_type_is_type(ct, "text", "plain")) &&
                       !g_mime_part_is_attachment(part);
        GMimeDataWrapper* content = g_mime_part_get_content(part);
        if (!p.rewritable && content) {
            GMimeStream* stream = g_mime_data_wrapper_get_stream(content);
            outpost::GPtr<GMimeStream> mem(g_mime_stream_mem_new());
            g_mime_stream_reset(stream);
            g_mime_stream_write_to_stream(stream, mem.get());
            GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem.get()));
            p.raw.assign(reinterpret_cast<const char*>(bytes->data), bytes->len);
        }
    }
    out->push_back(std::move(p));
}

// The MIME tree of headers + blank line + body, as GMime reads it.
std::vector<Part> tree(std::string_view headers, std::string_view body) {
    std::string message(headers);
    message += "\r\n";
    message += body;
    outpost::GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(message.data(), message.size()));
    outpost::GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
    outpost::GPtr<GMimeMessage> m(g_mime_parser_construct_message(parser.get(), nullptr));
    std::vector<Part> parts;
    if (!m) std::abort();  // track_message changed something it could not parse
    if (GMimeObject* top = g_mime_message_get_mime_part(m.get())) {
        visit(nullptr, top, &parts);
        if (GMIME_IS_MULTIPART(top)) g_mime_multipart_foreach(GMIME_MULTIPART(top), visit, &parts);
    }
    return parts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    outpost::fuzz::MessageInput in;
    if (!outpost::fuzz::message_input(data, size, 256 * 1024, in)) return 0;
    const uint8_t flags = in.flags;
    const std::string_view headers = in.headers, body = in.body;

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
    if (r.changed) {
        outpost::gmime_init_once();
        const std::vector<Part> before = tree(headers, body), after = tree(headers, r.body);
        if (std::getenv("OUTPOST_FUZZ_VERBOSE")) {  // for corpus work: the two trees and the new body
            for (const auto* t : {&before, &after}) {
                std::fprintf(stderr, "%s:", t == &before ? "before" : "after");
                for (const auto& p : *t) std::fprintf(stderr, " %s%s", p.type.c_str(), p.rewritable ? "*" : "");
                std::fprintf(stderr, "\n");
            }
            std::fprintf(stderr, "new body:\n%s\n", r.body.c_str());
        }
        if (before.size() != after.size()) std::abort();
        for (size_t i = 0; i < before.size(); ++i) {
            if (before[i].type != after[i].type || before[i].rewritable != after[i].rewritable) std::abort();
            if (!before[i].rewritable && before[i].raw != after[i].raw) std::abort();
        }
    }
    return 0;
}
