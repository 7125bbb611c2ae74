// track_html.cpp - placeholder, link, footer and pixel edits of one HTML part
// by gumbo source positions.
#include "milter/track_html.h"

#include <gmime/gmime.h>
#include <gumbo.h>

#include <algorithm>
#include <memory>
#include <set>

#include "base/html.h"

namespace outpost::milter {
namespace {

struct GumboDeleter {
    void operator()(GumboOutput* out) const { gumbo_destroy_output(&kGumboDefaultOptions, out); }
};
using GumboPtr = std::unique_ptr<GumboOutput, GumboDeleter>;

// Error recording is off: gumbo copies the stack of open elements into every
// parse error, which costs memory with the square of the nesting depth.
GumboPtr parse(std::string_view html) {
    GumboOptions options = kGumboDefaultOptions;
    options.max_errors = 0;
    return GumboPtr(gumbo_parse_with_options(&options, html.data(), html.size()));
}

struct Edit {
    size_t pos = 0;  // offset into the buffer gumbo parsed
    size_t len = 0;  // bytes replaced
    std::string text;
};

bool is_html_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

std::string_view trim_html_space(std::string_view s) {
    while (!s.empty() && is_html_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_html_space(s.back())) s.remove_suffix(1);
    return s;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    return g_ascii_strncasecmp(s.data(), prefix.data(), prefix.size()) == 0;
}

bool has_8bit(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

// Start tags gumbo will see at most: "<" followed by an ASCII letter.
size_t count_start_tags(std::string_view html) {
    size_t n = 0;
    for (size_t i = 0; i + 1 < html.size(); ++i)
        if (html[i] == '<' && g_ascii_isalpha(html[i + 1])) ++n;
    return n;
}

// The href value of the first <a> in `html`, as gumbo decodes it.
bool decode_href(const std::string& html, std::string& out) {
    GumboPtr doc = parse(html);
    if (!doc) return false;
    std::vector<const GumboNode*> todo{doc->root};
    while (!todo.empty()) {
        const GumboNode* n = todo.back();
        todo.pop_back();
        if (n->type != GUMBO_NODE_ELEMENT) continue;
        const GumboElement& el = n->v.element;
        if (el.tag == GUMBO_TAG_A) {
            const GumboAttribute* href = gumbo_get_attribute(&el.attributes, "href");
            if (!href) return false;
            out = href->value;
            return true;
        }
        for (unsigned i = el.children.length; i > 0; --i)
            todo.push_back(static_cast<const GumboNode*>(el.children.data[i - 1]));
    }
    return false;
}

// The URL an href stands for, in UTF-8; false (and a note) when it cannot be
// known. `raw` is the attribute's source text, quotes included.
bool href_url(const GumboAttribute& href, std::string_view raw, const HtmlPlan& plan, std::string& url,
              std::vector<std::string>& notes) {
    if (!has_8bit(raw) || plan.utf8) {
        if (plan.utf8 && !g_utf8_validate(raw.data(), static_cast<gssize>(raw.size()), nullptr)) {
            notes.push_back("link left alone: href holds NUL or invalid UTF-8");
            return false;
        }
        url = href.value;
        return true;
    }
    if (plan.ascii) {
        notes.push_back("link left alone: 8-bit bytes in a us-ascii href");
        return false;
    }
    iconv_t cd = g_mime_iconv_open("UTF-8", plan.charset.c_str());
    if (cd == reinterpret_cast<iconv_t>(-1)) {
        notes.push_back("link left alone: no conversion from " + plan.charset);
        return false;
    }
    char* utf8 = g_mime_iconv_strndup(cd, raw.data(), raw.size());
    g_mime_iconv_close(cd);
    if (!utf8) {
        notes.push_back("link left alone: href is not valid " + plan.charset);
        return false;
    }
    std::unique_ptr<char, decltype(&g_free)> owned(utf8, &g_free);
    if (!decode_href("<a href=" + std::string(utf8) + ">", url)) {
        notes.push_back("link left alone: href not decodable after conversion");
        return false;
    }
    return true;
}

struct Scan {
    std::string_view html;
    const HtmlPlan& plan;
    const TrackOptions& opt;
    const std::vector<std::pair<size_t, size_t>>& placeholder_ranges;
    std::vector<Edit> edits;
    std::set<size_t> seen;  // href offsets already handled (gumbo clones <a> elements)
    int links = 0;
    std::vector<std::string> notes;
    size_t body_end = std::string_view::npos;
    size_t html_end = std::string_view::npos;

    bool in_placeholder(size_t pos, size_t len) const {
        for (const auto& [b, e] : placeholder_ranges)
            if (b < pos + len && pos < e) return true;
        return false;
    }

    // Offset of `p` in the buffer, or npos when gumbo pointed elsewhere.
    size_t offset_of(const char* p, size_t len) const {
        if (p < html.data() || p + len > html.data() + html.size()) return std::string_view::npos;
        return static_cast<size_t>(p - html.data());
    }

    void link(const GumboElement& el) {
        const GumboAttribute* href = gumbo_get_attribute(&el.attributes, "href");
        if (!href || href->original_value.length == 0) return;
        const size_t pos = offset_of(href->original_value.data, href->original_value.length);
        if (pos == std::string_view::npos) {
            notes.push_back("link left alone: href outside the part");
            return;
        }
        if (!seen.insert(pos).second) return;
        if (gumbo_get_attribute(&el.attributes, "data-outpost-notrack")) return;
        const size_t len = href->original_value.length;
        if (in_placeholder(pos, len)) return;  // the unsubscribe link
        const std::string_view raw = html.substr(pos, len);
        std::string decoded;
        if (!href_url(*href, raw, plan, decoded, notes)) return;
        const std::string url(trim_html_space(decoded));
        if (!opt.unsubscribe_url.empty() && url == opt.unsubscribe_url) return;
        if (!starts_with_ci(url, "http://") && !starts_with_ci(url, "https://")) return;
        char quote = raw.front();
        if (quote == '"' || quote == '\'') {
            if (raw.size() < 2 || raw.back() != quote) {
                notes.push_back("link left alone: unterminated quote");
                return;
            }
        } else {
            quote = '"';
        }
        const std::string target = opt.click_url ? opt.click_url(url) : std::string();
        if (target.empty()) return;
        edits.push_back({pos, len, quote + html_escape(target) + quote});
        ++links;
    }

    void run(const GumboNode* root) {
        std::vector<const GumboNode*> todo{root};
        while (!todo.empty()) {
            const GumboNode* n = todo.back();
            todo.pop_back();
            if (n->type != GUMBO_NODE_ELEMENT && n->type != GUMBO_NODE_TEMPLATE) continue;
            const GumboElement& el = n->v.element;
            if (el.tag_namespace == GUMBO_NAMESPACE_HTML) {
                if (el.tag == GUMBO_TAG_A && opt.clicks) link(el);
                const GumboStringPiece& end = el.original_end_tag;
                if (el.tag == GUMBO_TAG_BODY && end.length > 0 && body_end == std::string_view::npos)
                    body_end = offset_of(end.data, end.length);
                if (el.tag == GUMBO_TAG_HTML && end.length > 0 && html_end == std::string_view::npos)
                    html_end = offset_of(end.data, end.length);
            }
            for (unsigned i = el.children.length; i > 0; --i)
                todo.push_back(static_cast<const GumboNode*>(el.children.data[i - 1]));
        }
    }
};

HtmlOutcome left_alone(std::vector<std::string> notes) {
    HtmlOutcome r;
    r.notes = std::move(notes);
    return r;
}

std::string_view line_end_of(std::string_view s) {
    return s.find("\r\n") == std::string_view::npos && s.find('\n') != std::string_view::npos ? "\n" : "\r\n";
}

}  // namespace

HtmlOutcome rewrite_html(std::string_view html, const HtmlPlan& plan, const TrackOptions& opt) {
    HtmlOutcome r;
    if (const size_t tags = count_start_tags(html); tags > opt.max_html_tags) {
        r.notes.push_back("left alone: " + std::to_string(tags) + " tags, over the limit of " +
                          std::to_string(opt.max_html_tags));
        return r;
    }

    // Placeholders first, so that an href holding one is known for the
    // unsubscribe link by the ranges they leave.
    std::string buf;
    std::vector<std::pair<size_t, size_t>> ranges;
    const std::string_view ph = kUnsubscribePlaceholder;
    if (!opt.unsubscribe_url.empty() && html.find(ph) != std::string_view::npos) {
        const std::string url = html_escape(opt.unsubscribe_url);
        buf.reserve(html.size());
        size_t from = 0;
        for (size_t at; (at = html.find(ph, from)) != std::string_view::npos; from = at + ph.size()) {
            buf.append(html.substr(from, at - from));
            ranges.emplace_back(buf.size(), buf.size() + url.size());
            buf += url;
            ++r.placeholders;
        }
        buf.append(html.substr(from));
        html = buf;
    }

    // Nothing but placeholders to replace (no links, pixel or footer):
    // the HTML need not be parsed at all.
    if (!opt.clicks && !(plan.pixel && !opt.pixel_url.empty()) &&
        !(plan.footer && !opt.unsubscribe_url.empty())) {
        if (r.placeholders == 0) return left_alone(std::move(r.notes));
        r.html.assign(html);
        r.changed = true;
        return r;
    }

    GumboPtr doc = parse(html);
    if (!doc) {
        r.notes.push_back("left alone: gumbo could not parse it");
        return left_alone(std::move(r.notes));
    }
    Scan scan{html, plan, opt, ranges, {}, {}, 0, {}};
    scan.run(doc->root);
    r.notes.insert(r.notes.end(), scan.notes.begin(), scan.notes.end());
    r.links = scan.links;
    std::vector<Edit> edits = std::move(scan.edits);

    const bool pixel = plan.pixel && !opt.pixel_url.empty();
    const bool footer = plan.footer && !opt.unsubscribe_url.empty();
    if (pixel || footer) {
        size_t at = scan.body_end != std::string_view::npos   ? scan.body_end
                    : scan.html_end != std::string_view::npos ? scan.html_end
                                                              : html.size();
        const std::string_view nl = line_end_of(html);
        std::string text;
        if (at > 0 && html[at - 1] != '\n') text += nl;
        if (footer) {
            text += "<p style=\"margin:16px 0 0;font-size:12px;color:#666666\"><a href=\"" +
                    html_escape(opt.unsubscribe_url) + "\" style=\"color:#666666\">Unsubscribe</a></p>";
            text += nl;
        }
        if (pixel) {
            text += "<img src=\"" + html_escape(opt.pixel_url) +
                    "\" width=\"1\" height=\"1\" alt=\"\" "
                    "style=\"display:block;border:0;width:1px;height:1px\" />";
            text += nl;
        }
        edits.push_back({at, 0, std::move(text)});
        r.pixel = pixel;
        r.footer = footer;
    }

    if (edits.empty() && r.placeholders == 0) return left_alone(std::move(r.notes));
    std::sort(edits.begin(), edits.end(), [](const Edit& a, const Edit& b) { return a.pos < b.pos; });
    std::string out;
    out.reserve(html.size() + 512);
    size_t cursor = 0;
    for (const Edit& e : edits) {
        if (e.pos < cursor) {  // overlapping edits: gumbo gave us something we do not understand
            r.notes.push_back("left alone: overlapping edits");
            return left_alone(std::move(r.notes));
        }
        out.append(html.substr(cursor, e.pos - cursor));
        out += e.text;
        cursor = e.pos + e.len;
    }
    out.append(html.substr(cursor));
    r.html = std::move(out);
    r.changed = true;
    return r;
}

}  // namespace outpost::milter
