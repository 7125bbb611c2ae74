// track_rewrite.cpp - MIME walk, transfer decoding and re-encoding, and the
// byte splicing of the track stage over GMime.
#include "milter/track_rewrite.h"

#include <gmime/gmime.h>

#include <algorithm>
#include <initializer_list>
#include <memory>
#include <mutex>

#include "milter/track_html.h"
#include "base/gmime.h"

namespace outpost::milter {
namespace {

// The longest line SMTP allows, without its CRLF (RFC 5322 2.1.1). A longer
// line would be folded by the MTA after we signed.
constexpr size_t kMaxLine = 998;

// `in` written through GMime filters, in order.
std::string run_filters(std::string_view in, std::initializer_list<GMimeFilter*> filters) {
    std::vector<GPtr<GMimeFilter>> owned;
    for (GMimeFilter* f : filters) owned.emplace_back(f);
    GPtr<GMimeStream> out(g_mime_stream_mem_new());
    GPtr<GMimeStream> filtered(g_mime_stream_filter_new(out.get()));
    for (const auto& f : owned) g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered.get()), f.get());
    if (!in.empty()) g_mime_stream_write(filtered.get(), in.data(), in.size());
    g_mime_stream_flush(filtered.get());
    const GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out.get()));
    return std::string(reinterpret_cast<const char*>(bytes->data), bytes->len);
}

std::string decode(std::string_view in, GMimeContentEncoding enc) {
    return run_filters(in, {g_mime_filter_basic_new(enc, FALSE)});
}

std::string strip_newlines(std::string s) {
    std::erase_if(s, [](char c) { return c == '\r' || c == '\n' || c == ' ' || c == '\t'; });
    return s;
}

size_t longest_line(std::string_view s) {
    size_t longest = 0;
    for (size_t from = 0; from < s.size();) {
        size_t nl = s.find('\n', from);
        size_t end = nl == std::string_view::npos ? s.size() : nl;
        size_t len = end - from;
        if (nl != std::string_view::npos && len > 0 && s[end - 1] == '\r') --len;
        longest = std::max(longest, len);
        if (nl == std::string_view::npos) break;
        from = nl + 1;
    }
    return longest;
}

bool has_8bit(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

bool contains(std::string_view hay, std::string_view needle) {
    return hay.find(needle) != std::string_view::npos;
}

struct Charset {
    bool supported = false;
    bool utf8 = false;
    bool ascii = false;
    std::string name;  // GMime canonical name
};

// Charsets in which every ASCII byte stands for itself, so markup, URLs and
// the placeholder are found and inserted as ASCII.
Charset classify_charset(const char* param) {
    Charset cs;
    cs.name = g_mime_charset_canon_name(param ? param : "us-ascii");
    std::string n = cs.name;
    std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return g_ascii_tolower(c); });
    cs.utf8 = n == "utf-8" || n == "utf8";
    cs.ascii = n == "us-ascii" || n == "ascii" || n == "ansi_x3.4-1968";
    static const char* const exact[] = {"latin1",    "latin2", "latin9",  "gb2312",      "gbk",
                                        "gb18030",   "cp936",  "big5",    "big5-hkscs",  "shift-jis",
                                        "shift_jis", "sjis",   "cp932",   "windows-31j", "euc-jp",
                                        "euc-kr",    "cp949",  "tis-620", "euc-cn"};
    static const char* const prefixes[] = {"iso-8859-", "windows-125", "windows-cp125", "cp125", "koi8-"};
    cs.supported = cs.utf8 || cs.ascii ||
                   std::any_of(std::begin(exact), std::end(exact), [&](const char* e) { return n == e; }) ||
                   std::any_of(std::begin(prefixes), std::end(prefixes),
                               [&](const char* p) { return n.starts_with(p); });
    return cs;
}

// Content-Transfer-Encoding, or DEFAULT with `known` false for a value GMime
// does not know (g_mime_content_encoding_from_string maps those to DEFAULT).
GMimeContentEncoding transfer_encoding(GMimeObject* part, bool& known) {
    known = true;
    const char* value = g_mime_object_get_header(part, "Content-Transfer-Encoding");
    if (!value) return GMIME_CONTENT_ENCODING_DEFAULT;
    GMimeContentEncoding enc = g_mime_content_encoding_from_string(value);
    if (enc == GMIME_CONTENT_ENCODING_DEFAULT) known = false;
    return enc;
}

const char* parser_warning_name(int code) {
    switch (code) {
        case GMIME_WARN_MALFORMED_MULTIPART:
            return "a multipart without parts";
        case GMIME_WARN_TRUNCATED_MESSAGE:
            return "truncated (a closing boundary is missing)";
        case GMIME_WARN_MALFORMED_MESSAGE:
            return "malformed";
        case GMIME_CRIT_INVALID_HEADER_NAME:
            return "an invalid header name";
        case GMIME_CRIT_CONFLICTING_HEADER:
            return "conflicting MIME headers";
        case GMIME_CRIT_CONFLICTING_PARAMETER:
            return "conflicting MIME parameters";
        case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
            return "a multipart without boundary";
        case GMIME_CRIT_NESTING_OVERFLOW:
            return "MIME nesting over GMime's limit";
        case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
            return "a part without headers or content";
        default:
            return nullptr;
    }
}

// Parser warning callback: remembers the first warning that makes the
// structure unsafe to edit (other software may see other parts). C code calls
// it, so it must not throw: it only stores an int.
void on_parser_warning(gint64, GMimeParserWarning code, const gchar*, gpointer user_data) {
    int* first = static_cast<int*>(user_data);
    if (*first == 0 && parser_warning_name(code)) *first = code;
}

// A text leaf the track stage may edit.
struct Leaf {
    std::string spec;  // IMAP-style part specifier, for notes
    bool html = false;
    GMimeObject* object = nullptr;  // owned by the message
};

struct Walker {
    std::vector<Leaf> leaves;
    std::vector<std::string>& notes;
    std::vector<std::string> boundaries;  // of every multipart walked

    void walk(GMimeObject* obj, const std::string& spec, int depth) {
        const std::string name = spec.empty() ? "message" : "part " + spec;
        if (GMIME_IS_MULTIPART_SIGNED(obj) || GMIME_IS_MULTIPART_ENCRYPTED(obj)) {
            notes.push_back(name + ": signed or encrypted, left alone");
            return;
        }
        if (GMIME_IS_MULTIPART(obj)) {
            if (depth >= kMaxMimeDepth) {
                notes.push_back(name + ": nested deeper than " + std::to_string(kMaxMimeDepth) +
                                ", left alone");
                return;
            }
            GMimeMultipart* mp = GMIME_MULTIPART(obj);
            if (const char* b = g_mime_multipart_get_boundary(mp); b && *b) boundaries.emplace_back(b);
            const int n = g_mime_multipart_get_count(mp);
            for (int i = 0; i < n; ++i)
                walk(g_mime_multipart_get_part(mp, i),
                     (spec.empty() ? "" : spec + ".") + std::to_string(i + 1), depth + 1);
            return;
        }
        if (GMIME_IS_MESSAGE_PART(obj)) {  // a forwarded message is not ours to track
            notes.push_back("part " + (spec.empty() ? std::string("1") : spec) +
                            ": message/rfc822, left alone");
            return;
        }
        if (!GMIME_IS_PART(obj)) return;
        GMimeContentType* ct = g_mime_object_get_content_type(obj);
        const bool html = ct && g_mime_content_type_is_type(ct, "text", "html");
        const bool text = ct && g_mime_content_type_is_type(ct, "text", "plain");
        if (!html && !text) return;
        const std::string leaf_spec = spec.empty() ? "1" : spec;
        GMimeContentDisposition* disp = g_mime_object_get_content_disposition(obj);
        if (disp && g_mime_content_disposition_is_attachment(disp)) {
            notes.push_back("part " + leaf_spec + ": attachment, left alone");
            return;
        }
        leaves.push_back({leaf_spec, html, obj});
    }
};

// True if a line of `text` begins with "--" and one of `boundaries`: spliced
// into the message, it would end its part there (RFC 2046 5.1.1). The
// original content has no such line (it would have ended the part already),
// but edited and re-encoded content can: a quoted-printable soft break may
// now fall just before a "--boundary" that sat mid-line.
bool has_boundary_line(std::string_view text, const std::vector<std::string>& boundaries) {
    for (size_t at = 0; at < text.size();) {
        if (text.compare(at, 2, "--") == 0)
            for (const auto& b : boundaries)
                if (text.compare(at + 2, b.size(), b) == 0) return true;
        const size_t nl = text.find('\n', at);
        if (nl == std::string_view::npos) break;
        at = nl + 1;
    }
    return false;
}

// A leaf decoded and ready to edit.
struct Decoded {
    size_t start = 0;  // range of the encoded content in the raw message
    size_t end = 0;
    GMimeContentEncoding enc = GMIME_CONTENT_ENCODING_DEFAULT;
    Charset charset;
    std::string content;  // decoded bytes, in the part's charset
};

class Rewriter {
public:
    Rewriter(std::string_view raw, size_t body_offset, GMimeStream* stream, const TrackOptions& opt,
             TrackResult& result)
        : raw_(raw), body_offset_(body_offset), stream_(stream), opt_(opt), r_(result) {}

    bool decode_leaf(const Leaf& leaf, Decoded& d) {
        const std::string name = "part " + leaf.spec;
        GMimeDataWrapper* wrapper = g_mime_part_get_content(GMIME_PART(leaf.object));
        GMimeStream* content = wrapper ? g_mime_data_wrapper_get_stream(wrapper) : nullptr;
        if (!content) return note(name + ": no content");
        // With persist-stream, the content is a substream of the raw message;
        // its bounds are offsets into it (bound_end -1: up to the end).
        if (content->super_stream != stream_) return note(name + ": content is not a view of the message");
        const gint64 start = content->bound_start;
        const gint64 end = content->bound_end < 0 ? static_cast<gint64>(raw_.size()) : content->bound_end;
        if (start < static_cast<gint64>(body_offset_) || end < start ||
            end > static_cast<gint64>(raw_.size()))
            return note(name + ": content bounds outside the body");
        d.start = static_cast<size_t>(start);
        d.end = static_cast<size_t>(end);

        bool known = true;
        d.enc = transfer_encoding(leaf.object, known);
        if (!known) return note(name + ": unknown transfer encoding");
        if (d.enc == GMIME_CONTENT_ENCODING_UUENCODE) return note(name + ": uuencode not supported");

        d.charset = classify_charset(g_mime_object_get_content_type_parameter(leaf.object, "charset"));
        if (!d.charset.supported) return note(name + ": charset " + d.charset.name + " not supported");

        const std::string_view encoded = raw_.substr(d.start, d.end - d.start);
        if (encoded.size() / 2 > opt_.max_part_bytes)
            return note(name + ": " + std::to_string(encoded.size()) + " bytes, over the size limit");
        switch (d.enc) {
            case GMIME_CONTENT_ENCODING_BASE64:
                d.content = decode(encoded, d.enc);
                // GMime's decoder skips what is not base64; a part that does
                // not encode back to itself was broken (or oddly padded).
                if (strip_newlines(run_filters(d.content, {g_mime_filter_basic_new(d.enc, TRUE)})) !=
                    strip_newlines(std::string(encoded)))
                    return note(name + ": base64 content is broken");
                break;
            case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
                d.content = decode(encoded, d.enc);
                break;
            default:
                d.content.assign(encoded);
                break;
        }
        if (d.content.size() > opt_.max_part_bytes)
            return note(name + ": " + std::to_string(d.content.size()) +
                        " bytes decoded, over the size limit");
        return true;
    }

    // The part's content encoded as the original was; false (and a note) when
    // that cannot be done without changing what the MTA sends.
    bool encode(const std::string& name, const Decoded& d, const std::string& content, std::string& out) {
        const std::string_view orig = raw_.substr(d.start, d.end - d.start);
        switch (d.enc) {
            case GMIME_CONTENT_ENCODING_BASE64: {
                const std::string flat =
                    strip_newlines(run_filters(content, {g_mime_filter_basic_new(d.enc, TRUE)}));
                const size_t first_nl = orig.find('\n');
                const std::string_view nl =
                    first_nl != std::string_view::npos && first_nl > 0 && orig[first_nl - 1] == '\r' ? "\r\n"
                    : first_nl != std::string_view::npos                                             ? "\n"
                                                                                                     : "\r\n";
                size_t width = 76;
                if (first_nl != std::string_view::npos && first_nl + 1 < orig.size()) {
                    width = first_nl - (nl.size() - 1);  // more than one line: keep the first line's length
                } else {
                    width =
                        std::max(width, orig.size() - (first_nl == std::string_view::npos ? 0 : nl.size()));
                }
                width = std::clamp<size_t>(width, 4, kMaxLine);
                out.clear();
                for (size_t i = 0; i < flat.size(); i += width) {
                    if (i > 0) out += nl;
                    out.append(flat, i, width);
                }
                if (orig.ends_with('\n')) out += nl;
                break;
            }
            case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
                // Hard breaks are CRLF in the decoded text. The encoder is
                // given LF breaks and CRLF is put back after it: GMime 3.2's
                // encoder happens to drop a CR before LF itself, but a CR it
                // kept would come out as =0D.
                out = run_filters(content,
                                  {g_mime_filter_dos2unix_new(FALSE), g_mime_filter_basic_new(d.enc, TRUE),
                                   g_mime_filter_unix2dos_new(FALSE)});
                break;
            default:
                if ((d.enc == GMIME_CONTENT_ENCODING_7BIT || d.enc == GMIME_CONTENT_ENCODING_DEFAULT) &&
                    has_8bit(content) && !has_8bit(d.content))
                    return note(name + ": 7bit part would get 8-bit bytes, left alone");
                out = content;
                break;
        }
        if (d.enc == GMIME_CONTENT_ENCODING_BASE64 || d.enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE) {
            if (decode(out, d.enc) != content)
                return note(name + ": re-encoding would change the content, left alone");
        }
        if (const size_t longest = longest_line(out); longest > kMaxLine)
            return note(name + ": a line of " + std::to_string(longest) + " octets, over 998, left alone");
        return true;
    }

    bool note(std::string text) {
        r_.notes.push_back(std::move(text));
        return false;
    }

private:
    std::string_view raw_;
    size_t body_offset_;
    GMimeStream* stream_;
    const TrackOptions& opt_;
    TrackResult& r_;
};

struct Splice {
    size_t start = 0;  // range in the raw message
    size_t end = 0;
    std::string text;
};

std::string_view line_end_of(std::string_view s) {
    return !contains(s, "\r\n") && contains(s, "\n") ? "\n" : "\r\n";
}

// Placeholders replaced, and the footer appended when `footer`.
std::string rewrite_text(std::string_view text, const TrackOptions& opt, bool footer, int& placeholders) {
    std::string out;
    const std::string_view ph = kUnsubscribePlaceholder;
    size_t from = 0;
    if (!opt.unsubscribe_url.empty()) {
        for (size_t at; (at = text.find(ph, from)) != std::string_view::npos; from = at + ph.size()) {
            out.append(text.substr(from, at - from));
            out += opt.unsubscribe_url;
            ++placeholders;
        }
    }
    out.append(text.substr(from));
    if (footer) {
        const std::string_view nl = line_end_of(text);
        out.append(nl)
            .append("-- ")
            .append(nl)
            .append("Unsubscribe: ")
            .append(opt.unsubscribe_url)
            .append(nl);
    }
    return out;
}

}  // namespace

TrackResult track_message(std::string_view headers, std::string_view body, const TrackOptions& opt) {
    TrackResult r;
    const bool wanted = opt.clicks || (opt.opens && !opt.pixel_url.empty()) || !opt.unsubscribe_url.empty();
    if (!wanted) return r;
    gmime_init_once();

    std::string raw;
    raw.reserve(headers.size() + 2 + body.size());
    raw.append(headers).append("\r\n").append(body);
    const size_t body_offset = headers.size() + 2;

    // The buffer is copied by the stream; GMime does not keep pointers into `raw`.
    GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(raw.data(), raw.size()));
    GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
    g_mime_parser_set_persist_stream(parser.get(), TRUE);
    std::unique_ptr<GMimeParserOptions, decltype(&g_mime_parser_options_free)> popts(
        g_mime_parser_options_new(), &g_mime_parser_options_free);
    int bad_warning = 0;
    g_mime_parser_options_set_warning_callback(popts.get(), &on_parser_warning, &bad_warning);
    GPtr<GMimeMessage> message(g_mime_parser_construct_message(parser.get(), popts.get()));
    if (!message) {
        r.notes.push_back("message: GMime could not parse it, left alone");
        return r;
    }
    if (bad_warning) {
        r.notes.push_back(std::string("message: ") + parser_warning_name(bad_warning) + ", left alone");
        return r;
    }
    GMimeObject* root = g_mime_message_get_mime_part(message.get());
    if (!root) return r;

    Walker walker{{}, r.notes, {}};
    walker.walk(root, "", 0);
    const auto first_of = [&](bool html) -> const Leaf* {
        for (const Leaf& l : walker.leaves)
            if (l.html == html) return &l;
        return nullptr;
    };
    const Leaf* main_html = first_of(true);
    const Leaf* main_text = first_of(false);

    Rewriter rw(raw, body_offset, stream.get(), opt, r);
    std::vector<std::pair<const Leaf*, Decoded>> parts;
    for (const Leaf& leaf : walker.leaves) {
        Decoded d;
        if (rw.decode_leaf(leaf, d)) parts.emplace_back(&leaf, std::move(d));
    }
    const bool has_placeholder = std::any_of(parts.begin(), parts.end(), [](const auto& p) {
        return contains(p.second.content, kUnsubscribePlaceholder);
    });
    const bool footer = opt.footer && !opt.unsubscribe_url.empty() && !has_placeholder;

    std::vector<Splice> splices;
    for (const auto& [leaf, d] : parts) {
        const std::string name = "part " + leaf->spec;
        std::string content;
        int links = 0, placeholders = 0;
        bool pixel = false, footered = false;
        if (leaf->html) {
            HtmlPlan plan;
            plan.charset = d.charset.name;
            plan.utf8 = d.charset.utf8;
            plan.ascii = d.charset.ascii;
            plan.pixel = leaf == main_html && opt.opens;
            plan.footer = leaf == main_html && footer;
            HtmlOutcome h = rewrite_html(d.content, plan, opt);
            for (auto& n : h.notes) r.notes.push_back(name + ": " + n);
            if (!h.changed) continue;
            content = std::move(h.html);
            links = h.links;
            placeholders = h.placeholders;
            pixel = h.pixel;
            footered = h.footer;
        } else {
            footered = leaf == main_text && footer;
            content = rewrite_text(d.content, opt, footered, placeholders);
            if (!footered && placeholders == 0) continue;
        }
        std::string encoded;
        if (!rw.encode(name, d, content, encoded)) continue;
        if (has_boundary_line(encoded, walker.boundaries)) {
            r.notes.push_back(name + ": a line would begin with a MIME boundary, left alone");
            continue;
        }
        splices.push_back({d.start, d.end, std::move(encoded)});
        r.links += links;
        r.placeholders += placeholders;
        r.pixel = r.pixel || pixel;
        r.footer = r.footer || footered;
    }
    if (splices.empty()) return r;

    std::string out;
    out.reserve(body.size() + 4096);
    size_t cursor = body_offset;
    for (const Splice& s : splices) {
        if (s.start < cursor) {  // leaves come in order and do not overlap; anything else is a GMime surprise
            TrackResult unchanged;
            unchanged.notes = std::move(r.notes);
            unchanged.notes.push_back("message: overlapping parts, left alone");
            return unchanged;
        }
        out.append(raw, cursor, s.start - cursor);
        out += s.text;
        cursor = s.end;
    }
    out.append(raw, cursor, std::string::npos);
    r.body = std::move(out);
    r.changed = true;
    return r;
}

}  // namespace outpost::milter
