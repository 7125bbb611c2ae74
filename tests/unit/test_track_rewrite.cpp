// test_track_rewrite.cpp - the track stage's body rewriting: link tables on a
// single HTML part, each transfer encoding re-parsed and decoded with GMime,
// byte identity outside the rewritten part in nested multiparts, charsets,
// placeholders and footer, and hostile MIME and HTML left alone with a note.
#define BOOST_TEST_MODULE track_rewrite
#include <gmime/gmime.h>

#include <boost/test/unit_test.hpp>
#include <memory>
#include <mutex>

#include "milter/track_rewrite.h"
#include "base/gmime.h"

using outpost::milter::track_message;
using outpost::milter::TrackOptions;
using outpost::milter::TrackResult;
using outpost::gmime_init_once;
using outpost::GPtr;

namespace {

// A message written as one string, split as the milter sees it.
struct Message {
    std::string headers;  // "Name: value\r\n" lines, without the blank line
    std::string body;
};

Message split(const std::string& raw) {
    const auto at = raw.find("\r\n\r\n");
    BOOST_REQUIRE(at != std::string::npos);
    return {raw.substr(0, at + 2), raw.substr(at + 4)};
}

// Options that track clicks, recording each URL the callback was given.
struct Clicks {
    std::vector<std::string> seen;
    TrackOptions opt;
    Clicks() {
        opt.clicks = true;
        opt.click_url = [this](const std::string& url) {
            seen.push_back(url);
            if (url.find("no-track-please") != std::string::npos) return std::string();
            return "https://t.example/c/" + std::to_string(seen.size());
        };
    }
};

TrackResult run(const std::string& raw, const TrackOptions& opt) {
    const Message m = split(raw);
    return track_message(m.headers, m.body, opt);
}

bool has_note(const TrackResult& r, const std::string& word) {
    for (const auto& n : r.notes)
        if (n.find(word) != std::string::npos) return true;
    return false;
}

std::string notes_of(const TrackResult& r) {
    std::string s;
    for (const auto& n : r.notes) s += "[" + n + "] ";
    return s;
}

GPtr<GMimeMessage> parse_message(const std::string& raw) {
    gmime_init_once();
    GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(raw.data(), raw.size()));
    GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
    return GPtr<GMimeMessage>(g_mime_parser_construct_message(parser.get(), nullptr));
}

// The leaf at an IMAP-style specifier ("1", "1.2.1").
GMimeObject* leaf_at(GMimeMessage* msg, const std::string& spec) {
    GMimeObject* obj = g_mime_message_get_mime_part(msg);
    size_t from = 0;
    while (obj && GMIME_IS_MULTIPART(obj) && from < spec.size()) {
        size_t dot = spec.find('.', from);
        const int i = std::stoi(spec.substr(from, dot - from)) - 1;
        obj = g_mime_multipart_get_part(GMIME_MULTIPART(obj), i);
        from = dot == std::string::npos ? spec.size() : dot + 1;
    }
    return obj;
}

// The decoded content (transfer encoding undone, charset kept) of a leaf.
std::string decoded_leaf(const std::string& raw, const std::string& spec) {
    auto msg = parse_message(raw);
    BOOST_REQUIRE(msg);
    GMimeObject* obj = leaf_at(msg.get(), spec);
    BOOST_REQUIRE(obj && GMIME_IS_PART(obj));
    GPtr<GMimeStream> out(g_mime_stream_mem_new());
    g_mime_data_wrapper_write_to_stream(g_mime_part_get_content(GMIME_PART(obj)), out.get());
    GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out.get()));
    return std::string(reinterpret_cast<const char*>(bytes->data), bytes->len);
}

// The raw encoded content of a leaf, as it is in the message.
std::string encoded_leaf(const std::string& raw, const std::string& spec) {
    auto msg = parse_message(raw);
    BOOST_REQUIRE(msg);
    GMimeObject* obj = leaf_at(msg.get(), spec);
    BOOST_REQUIRE(obj && GMIME_IS_PART(obj));
    GMimeStream* s = g_mime_data_wrapper_get_stream(g_mime_part_get_content(GMIME_PART(obj)));
    const gint64 end = s->bound_end < 0 ? static_cast<gint64>(raw.size()) : s->bound_end;
    return raw.substr(s->bound_start, end - s->bound_start);
}

std::string base64(const std::string& s, size_t width) {
    gchar* enc = g_base64_encode(reinterpret_cast<const guchar*>(s.data()), s.size());
    std::string flat(enc);
    g_free(enc);
    std::string out;
    for (size_t i = 0; i < flat.size(); i += width) out += flat.substr(i, width) + "\r\n";
    return out;
}

std::vector<std::string> lines_of(const std::string& s) {
    std::vector<std::string> out;
    size_t from = 0;
    while (from < s.size()) {
        size_t nl = s.find("\r\n", from);
        if (nl == std::string::npos) {
            out.push_back(s.substr(from));
            break;
        }
        out.push_back(s.substr(from, nl - from));
        from = nl + 2;
    }
    return out;
}

size_t count(const std::string& hay, const std::string& needle) {
    size_t n = 0;
    for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
    return n;
}

const std::string kHtmlHead =
    "From: a@sender.example\r\nTo: b@rcpt.example\r\nSubject: hi\r\nMIME-Version: 1.0\r\n";
const std::string kPixel = "https://t.example/o/PIX";
const std::string kUnsub = "https://t.example/u/TOKEN?a=1&b=2";

std::string html_message(const std::string& html, const std::string& extra = "") {
    return kHtmlHead + "Content-Type: text/html; charset=utf-8\r\n" + extra + "\r\n" + html;
}

}  // namespace

// One link per case in a single-part 7bit text/html message: the whole body
// wanted back, and the URL the callback must have been given ("" = none).
BOOST_AUTO_TEST_CASE(link_table) {
    struct Case {
        const char* label;
        std::string html;
        std::string want;
        std::string callback_got;
    };
    const Case cases[] = {
        {"double quotes", "<a href=\"http://x.example/a\">a</a>", "<a href=\"https://t.example/c/1\">a</a>",
         "http://x.example/a"},
        {"single quotes kept", "<a href='https://x.example/b'>b</a>", "<a href='https://t.example/c/1'>b</a>",
         "https://x.example/b"},
        {"unquoted gets quotes", "<a href=http://x.example/c>c</a>",
         "<a href=\"https://t.example/c/1\">c</a>", "http://x.example/c"},
        {"upper case tag and attr", "<A HREF=\"HTTP://X.example/D\">d</A>",
         "<A HREF=\"https://t.example/c/1\">d</A>", "HTTP://X.example/D"},
        {"amp entity decoded", "<a href=\"https://x.example/?a=1&amp;b=2\">e</a>",
         "<a href=\"https://t.example/c/1\">e</a>", "https://x.example/?a=1&b=2"},
        {"numeric entity decoded", "<a href=\"https://x.example/?q&#x3D;1\">f</a>",
         "<a href=\"https://t.example/c/1\">f</a>", "https://x.example/?q=1"},
        {"whitespace trimmed", "<a href=\"  https://x.example/g \n\">g</a>",
         "<a href=\"https://t.example/c/1\">g</a>", "https://x.example/g"},
        {"spaces around =", "<a class=x href = \"https://x.example/h\" id=y>h</a>",
         "<a class=x href = \"https://t.example/c/1\" id=y>h</a>", "https://x.example/h"},
        {"fragment", "<a href=\"#top\">t</a>", "", ""},
        {"mailto", "<a href=\"mailto:a@b.example\">m</a>", "", ""},
        {"tel", "<a href=\"tel:+15550100\">p</a>", "", ""},
        {"relative", "<a href=\"/path/x\">r</a>", "", ""},
        {"scheme-relative", "<a href=\"//x.example/\">r</a>", "", ""},
        {"javascript", "<a href=\"javascript:alert(1)\">j</a>", "", ""},
        {"notrack", "<a data-outpost-notrack href=\"https://x.example/n\">n</a>", "", ""},
        {"callback declines", "<a href=\"https://x.example/no-track-please\">n</a>", "",
         "https://x.example/no-track-please"},
        {"unsubscribe url", "<a href=\"https://t.example/u/TOKEN?a=1&amp;b=2\">u</a>", "", ""},
        {"href without value", "<a href>v</a>", "", ""},
        {"no href", "<a name=\"x\">v</a>", "", ""},
        {"img src is not a link", "<img src=\"https://x.example/i.png\">", "", ""},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.label) {
            Clicks clicks;
            clicks.opt.unsubscribe_url = kUnsub;
            const std::string html = "<html><body><p>x " + c.html + " y</p></body></html>\r\n";
            auto r = run(html_message(html), clicks.opt);
            if (c.want.empty()) {
                BOOST_TEST(!r.changed);
                BOOST_TEST(r.body.empty());
                BOOST_TEST(r.links == 0);
            } else {
                BOOST_TEST(r.changed);
                BOOST_TEST(r.links == 1);
                BOOST_TEST(r.body == "<html><body><p>x " + c.want + " y</p></body></html>\r\n");
            }
            const std::vector<std::string> want_seen = c.callback_got.empty()
                                                           ? std::vector<std::string>{}
                                                           : std::vector<std::string>{c.callback_got};
            BOOST_TEST(clicks.seen == want_seen, boost::test_tools::per_element());
        }
    }
}

BOOST_AUTO_TEST_CASE(target_is_attribute_escaped) {
    TrackOptions opt;
    opt.clicks = true;
    opt.click_url = [](const std::string&) { return std::string("https://t.example/c?a=1&b=\"2\""); };
    auto r = run(html_message("<a href=http://x.example/>x</a>\r\n"), opt);
    BOOST_TEST(r.body == "<a href=\"https://t.example/c?a=1&amp;b=&quot;2&quot;\">x</a>\r\n");
}

BOOST_AUTO_TEST_CASE(single_part_7bit_with_pixel) {
    Clicks clicks;
    clicks.opt.opens = true;
    clicks.opt.pixel_url = kPixel;
    const std::string html =
        "<!DOCTYPE html>\r\n<html>\r\n<head><title>t</title></head>\r\n<body>\r\n"
        "<p>Hello <a href=\"https://shop.example/item?id=7&amp;ref=mail\">item</a></p>\r\n"
        "<p><a href=\"https://shop.example/item?id=7&amp;ref=mail\">again</a></p>\r\n"
        "</body>\r\n</html>\r\n";
    auto r = run(html_message(html, "Content-Transfer-Encoding: 7bit\r\n"), clicks.opt);
    BOOST_REQUIRE(r.changed);
    BOOST_TEST(r.links == 2);
    BOOST_TEST(r.pixel);
    BOOST_TEST(clicks.seen.size() == 2u);
    BOOST_TEST(clicks.seen.at(0) == "https://shop.example/item?id=7&ref=mail");
    const std::string want =
        "<!DOCTYPE html>\r\n<html>\r\n<head><title>t</title></head>\r\n<body>\r\n"
        "<p>Hello <a href=\"https://t.example/c/1\">item</a></p>\r\n"
        "<p><a href=\"https://t.example/c/2\">again</a></p>\r\n"
        "<img src=\"https://t.example/o/PIX\" width=\"1\" height=\"1\" alt=\"\" "
        "style=\"display:block;border:0;width:1px;height:1px\" />\r\n"
        "</body>\r\n</html>\r\n";
    BOOST_TEST(r.body == want);
}

BOOST_AUTO_TEST_CASE(quoted_printable_html) {
    Clicks clicks;
    clicks.opt.opens = true;
    clicks.opt.pixel_url = kPixel;
    // Soft breaks inside a tag and inside an href, =3D, &amp; query strings.
    const std::string qp =
        "<html><body style=3D\"margin:0\">\r\n"
        "<p>Caf=C3=A9 <a href=3D\"https://shop.example/p?a=3D1&amp;b=3D2\">first</a> and =\r\n"
        "<a "
        "hr=\r\nef=3D\"https://shop.example/long/path/that/goes/on?x=3D1&amp;y=3D=\r\n2\">second</a></p>\r\n"
        "</body></html>\r\n";
    const std::string original_html =
        "<html><body style=\"margin:0\">\r\n"
        "<p>Caf\xc3\xa9 <a href=\"https://shop.example/p?a=1&amp;b=2\">first</a> and "
        "<a href=\"https://shop.example/long/path/that/goes/on?x=1&amp;y=2\">second</a></p>\r\n"
        "</body></html>\r\n";
    const std::string raw = html_message(qp, "Content-Transfer-Encoding: quoted-printable\r\n");
    BOOST_REQUIRE(decoded_leaf(raw, "1") == original_html);

    auto r = run(raw, clicks.opt);
    BOOST_REQUIRE(r.changed);
    BOOST_TEST(r.links == 2);
    BOOST_TEST(r.pixel);
    BOOST_TEST(clicks.seen.at(0) == "https://shop.example/p?a=1&b=2");
    BOOST_TEST(clicks.seen.at(1) == "https://shop.example/long/path/that/goes/on?x=1&y=2");

    const std::string out = split(raw).headers + "\r\n" + r.body;
    const std::string want_html =
        "<html><body style=\"margin:0\">\r\n"
        "<p>Caf\xc3\xa9 <a href=\"https://t.example/c/1\">first</a> and "
        "<a href=\"https://t.example/c/2\">second</a></p>\r\n"
        "<img src=\"https://t.example/o/PIX\" width=\"1\" height=\"1\" alt=\"\" "
        "style=\"display:block;border:0;width:1px;height:1px\" />\r\n"
        "</body></html>\r\n";
    BOOST_TEST(decoded_leaf(out, "1") == want_html);
    BOOST_TEST(r.body.find("=0D") == std::string::npos);
    BOOST_TEST(r.body.find("=C3=A9") != std::string::npos);
    for (const auto& line : lines_of(r.body)) BOOST_TEST(line.size() <= 76u, line);
    BOOST_TEST(count(r.body, "\n") == count(r.body, "\r\n"));  // no bare LF
}

BOOST_AUTO_TEST_CASE(base64_html_keeps_line_length) {
    Clicks clicks;
    std::string html = "<html><body>\r\n";
    for (int i = 0; i < 20; ++i)
        html += "<p>Paragraph " + std::to_string(i) + " <a href=\"https://news.example/article/" +
                std::to_string(i) + "?utm=x&amp;y=z\">read</a></p>\r\n";
    html += "</body></html>\r\n";
    // 64-character lines, so "the same as the original" is not just GMime's 76.
    const std::string raw = html_message(base64(html, 64), "Content-Transfer-Encoding: base64\r\n");
    auto r = run(raw, clicks.opt);
    BOOST_REQUIRE(r.changed);
    BOOST_TEST(r.links == 20);
    BOOST_TEST(clicks.seen.at(3) == "https://news.example/article/3?utm=x&y=z");
    std::string want = html;
    for (int i = 0; i < 20; ++i) {
        const std::string from = "https://news.example/article/" + std::to_string(i) + "?utm=x&amp;y=z";
        want.replace(want.find(from), from.size(), "https://t.example/c/" + std::to_string(i + 1));
    }
    const std::string out = split(raw).headers + "\r\n" + r.body;
    BOOST_TEST(decoded_leaf(out, "1") == want);
    const auto lines = lines_of(r.body);
    BOOST_REQUIRE(lines.size() > 2u);
    for (size_t i = 0; i + 1 < lines.size(); ++i) BOOST_TEST(lines[i].size() == 64u);
    BOOST_TEST(lines.back().size() <= 64u);
    BOOST_TEST(r.body.ends_with("\r\n"));
}

namespace {

// multipart/mixed > (multipart/related > (multipart/alternative > text/plain,
// text/html), image/png inline), text/html attachment.
const std::string kAttachment =
    "<html><body><a href=\"https://attached.example/\">keep me</a></body></html>\r\n";
const std::string kNestedHtml =
    "<html><body>\r\n<p>Main <a href=\"https://main.example/x?a=1&amp;b=2\">link</a>"
    " <img src=\"cid:logo@x\"></p>\r\n</body></html>";

std::string nested_message(const std::string& text) {
    return kHtmlHead +
           "Content-Type: multipart/mixed; boundary=\"mixed-b\"\r\n\r\n"
           "This is a multi-part message in MIME format.\r\n"
           "--mixed-b\r\n"
           "Content-Type: multipart/related; boundary=\"rel-b\"\r\n\r\n"
           "--rel-b\r\n"
           "Content-Type: multipart/alternative; boundary=\"alt-b\"\r\n\r\n"
           "--alt-b\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 7bit\r\n\r\n" +
           text +
           "\r\n--alt-b\r\n"
           "Content-Type: text/html; charset=utf-8\r\n"
           "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
           "<html><body>\r\n<p>Main <a href=3D\"https://main.example/x?a=3D1&amp;b=3D2\">link</a>"
           " <img src=3D\"cid:logo@x\"></p>\r\n</body></html>\r\n"
           "--alt-b--\r\n"
           "\r\n--rel-b\r\n"
           "Content-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Disposition: inline\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\n"
           "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
           "\r\n"
           "--rel-b--\r\n"
           "--mixed-b\r\n"
           "Content-Type: text/html; charset=utf-8; name=\"a.html\"\r\n"
           "Content-Disposition: attachment; filename=\"a.html\"\r\n\r\n" +
           kAttachment +
           "--mixed-b--\r\n"
           "epilogue\r\n";
}

}  // namespace

BOOST_AUTO_TEST_CASE(nested_multipart_only_the_html_alternative_changes) {
    Clicks clicks;
    clicks.opt.opens = true;
    clicks.opt.pixel_url = kPixel;
    const std::string raw = nested_message("Hello, see https://main.example/x\r\n");
    const Message in = split(raw);
    auto r = run(raw, clicks.opt);
    BOOST_REQUIRE(r.changed);
    BOOST_TEST(r.links == 1);
    BOOST_TEST(r.pixel);
    BOOST_TEST(clicks.seen == std::vector<std::string>{"https://main.example/x?a=1&b=2"},
               boost::test_tools::per_element());

    // Every byte before and after the html alternative's content is as it was.
    const std::string html_qp = encoded_leaf(raw, "1.1.2");
    const size_t start = in.body.find(html_qp);
    BOOST_REQUIRE(start != std::string::npos);
    const size_t tail = in.body.size() - (start + html_qp.size());
    BOOST_REQUIRE(r.body.size() > start + tail);
    BOOST_TEST(r.body.substr(0, start) == in.body.substr(0, start));
    BOOST_TEST(r.body.substr(r.body.size() - tail) == in.body.substr(in.body.size() - tail));

    const std::string out = in.headers + "\r\n" + r.body;
    BOOST_TEST(encoded_leaf(out, "2") == kAttachment.substr(0, kAttachment.size() - 2));
    BOOST_TEST(decoded_leaf(out, "1.1.1") == "Hello, see https://main.example/x\r\n");
    const std::string html = decoded_leaf(out, "1.1.2");
    BOOST_TEST(html.find("href=\"https://t.example/c/1\"") != std::string::npos);
    BOOST_TEST(count(out, "t.example/o/PIX") == 1u);  // one pixel per message
    BOOST_TEST(has_note(r, "part 2: attachment"), notes_of(r));
}

BOOST_AUTO_TEST_CASE(nested_multipart_footer_in_text_and_html) {
    TrackOptions opt;
    opt.footer = true;
    opt.unsubscribe_url = kUnsub;
    const std::string raw = nested_message("Hello");
    auto r = run(raw, opt);
    BOOST_REQUIRE(r.changed);
    BOOST_TEST(r.footer);
    const std::string out = split(raw).headers + "\r\n" + r.body;
    BOOST_TEST(decoded_leaf(out, "1.1.1") == "Hello\r\n-- \r\nUnsubscribe: " + kUnsub + "\r\n");
    const std::string html = decoded_leaf(out, "1.1.2");
    const std::string link =
        "<a href=\"https://t.example/u/TOKEN?a=1&amp;b=2\" style=\"color:#666666\">Unsubscribe</a>";
    BOOST_TEST(html.find(link) != std::string::npos, html);
    BOOST_TEST(html.find(link) < html.find("</body>"));
    BOOST_TEST(encoded_leaf(out, "2") == kAttachment.substr(0, kAttachment.size() - 2));
}

BOOST_AUTO_TEST_CASE(malformed_html) {
    Clicks clicks;
    clicks.opt.opens = true;
    clicks.opt.pixel_url = kPixel;
    const std::string html =
        "<HTML><BODY><table><tr><td><A HREF=http://a.example/1>one<td><a href='http://b.example/2'>two"
        "<p><b><a href=\"http://c.example/3\">three<p>four</a><div <a href=x>"
        "<a href=\"http://d.example/4\" href=\"http://e.example/dup\">dup</a>\r\n";
    auto r = run(html_message(html), clicks.opt);
    BOOST_REQUIRE(r.changed);
    BOOST_TEST(r.links == 4);  // each href once, though gumbo clones the <a> around "four"
    BOOST_TEST(r.pixel);
    const std::string want =
        "<HTML><BODY><table><tr><td><A HREF=\"https://t.example/c/1\">one<td><a "
        "href='https://t.example/c/2'>two"
        "<p><b><a href=\"https://t.example/c/3\">three<p>four</a><div <a href=x>"
        "<a href=\"https://t.example/c/4\" href=\"http://e.example/dup\">dup</a>\r\n"
        "<img src=\"https://t.example/o/PIX\" width=\"1\" height=\"1\" alt=\"\" "
        "style=\"display:block;border:0;width:1px;height:1px\" />\r\n";
    BOOST_TEST(r.body == want);
}

BOOST_AUTO_TEST_CASE(iso_8859_1_bytes_kept_and_href_converted) {
    Clicks clicks;
    const std::string html =
        "<html><body><p>Caf\xe9 \xab<a href=\"https://x.example/caf\xe9?a=1&amp;b=2\">cr\xe8me</a>\xbb "
        "<a href=\"https://x.example/plain\">br\xfbl\xe9"
        "e</a> \xe0 bient\xf4t</p></body></html>\r\n";
    const std::string raw = kHtmlHead +
                            "Content-Type: text/html; charset=ISO-8859-1\r\n"
                            "Content-Transfer-Encoding: 8bit\r\n\r\n" +
                            html;
    auto r = run(raw, clicks.opt);
    BOOST_REQUIRE(r.changed);
    BOOST_TEST(r.links == 2);
    BOOST_TEST(clicks.seen.at(0) == "https://x.example/caf\xc3\xa9?a=1&b=2");
    BOOST_TEST(clicks.seen.at(1) == "https://x.example/plain");
    BOOST_TEST(r.body ==
               "<html><body><p>Caf\xe9 \xab<a href=\"https://t.example/c/1\">cr\xe8me</a>\xbb "
               "<a href=\"https://t.example/c/2\">br\xfbl\xe9"
               "e</a> \xe0 bient\xf4t</p></body></html>\r\n");
}

BOOST_AUTO_TEST_CASE(charsets) {
    struct Case {
        const char* label;
        const char* charset;
        bool rewritten;
    };
    const Case cases[] = {
        {"latin1 alias", "latin1", true},
        {"cp1252", "cp1252", true},
        {"windows-1252", "windows-1252", true},
        {"upper UTF8", "UTF8", true},
        {"no charset", nullptr, true},
        {"shift_jis", "Shift_JIS", true},
        {"koi8-r", "koi8-r", true},
        {"utf-16", "utf-16", false},
        {"utf-32", "UTF-32LE", false},
        {"utf-7", "utf-7", false},
        {"iso-2022-jp", "iso-2022-jp", false},
        {"unknown", "x-martian", false},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.label) {
            Clicks clicks;
            const std::string ct =
                c.charset ? std::string("text/html; charset=\"") + c.charset + "\"" : "text/html";
            const std::string raw =
                kHtmlHead + "Content-Type: " + ct + "\r\n\r\n<a href=\"https://x.example/\">x</a>\r\n";
            auto r = run(raw, clicks.opt);
            BOOST_TEST(r.changed == c.rewritten);
            if (!c.rewritten) {
                BOOST_TEST(r.body.empty());
                BOOST_TEST(has_note(r, "part 1: charset"), notes_of(r));
                BOOST_TEST(has_note(r, "not supported"), notes_of(r));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(utf16_part_untouched) {
    Clicks clicks;
    clicks.opt.opens = true;
    clicks.opt.pixel_url = kPixel;
    const char16_t* text = u"<a href=\"https://x.example/\">x</a></body>";
    std::string bytes(reinterpret_cast<const char*>(text), std::char_traits<char16_t>::length(text) * 2);
    const std::string raw = kHtmlHead +
                            "Content-Type: text/html; charset=utf-16le\r\n"
                            "Content-Transfer-Encoding: base64\r\n\r\n" +
                            base64(bytes, 76);
    auto r = run(raw, clicks.opt);
    BOOST_TEST(!r.changed);
    BOOST_TEST(!r.pixel);
    BOOST_TEST(clicks.seen.empty());
    BOOST_TEST(has_note(r, "not supported"), notes_of(r));
}

BOOST_AUTO_TEST_CASE(placeholder_in_href_and_text) {
    Clicks clicks;
    clicks.opt.footer = true;
    clicks.opt.unsubscribe_url = kUnsub;
    const std::string raw = kHtmlHead +
                            "Content-Type: multipart/alternative; boundary=b\r\n\r\n"
                            "--b\r\nContent-Type: text/plain\r\n\r\nBye: {{outpost_unsubscribe_url}}\r\n\r\n"
                            "--b\r\nContent-Type: text/html\r\n\r\n"
                            "<a href=\"{{outpost_unsubscribe_url}}\">unsubscribe</a>"
                            " <a href=\"https://x.example/?u={{outpost_unsubscribe_url}}\">prefs</a>"
                            " <a href=\"https://x.example/shop\">shop</a>"
                            " <p>{{outpost_unsubscribe_url}}</p></body>\r\n"
                            "--b--\r\n";
    auto r = run(raw, clicks.opt);
    BOOST_REQUIRE(r.changed);
    BOOST_TEST(r.placeholders == 4);
    BOOST_TEST(r.links == 1);  // only the shop link: the others hold the unsubscribe URL
    BOOST_TEST(!r.footer);     // the message has its own unsubscribe link
    BOOST_TEST(clicks.seen == std::vector<std::string>{"https://x.example/shop"},
               boost::test_tools::per_element());
    const std::string out = split(raw).headers + "\r\n" + r.body;
    BOOST_TEST(decoded_leaf(out, "1") == "Bye: " + kUnsub + "\r\n");
    const std::string esc = "https://t.example/u/TOKEN?a=1&amp;b=2";
    BOOST_TEST(decoded_leaf(out, "2") ==
               "<a href=\"" + esc + "\">unsubscribe</a> <a href=\"https://x.example/?u=" + esc +
                   "\">prefs</a> <a href=\"https://t.example/c/1\">shop</a> <p>" + esc + "</p></body>");
}

BOOST_AUTO_TEST_CASE(footer_rules) {
    struct Case {
        const char* label;
        std::string unsub;
        std::string html;
        bool want_footer;
    };
    const Case cases[] = {
        {"added before </body>", kUnsub, "<html><body><p>hi</p></body></html>\r\n", true},
        {"not with a placeholder", kUnsub, "<p>{{outpost_unsubscribe_url}}</p></body>\r\n", false},
        {"not without url", "", "<html><body><p>hi</p></body></html>\r\n", false},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.label) {
            Clicks clicks;
            clicks.opt.footer = true;
            clicks.opt.unsubscribe_url = c.unsub;
            auto r = run(html_message(c.html), clicks.opt);
            BOOST_TEST(r.footer == c.want_footer);
            BOOST_TEST((r.body.find(">Unsubscribe</a>") != std::string::npos) == c.want_footer);
            BOOST_TEST(clicks.seen.empty());  // the footer link is never click-tracked
            if (c.want_footer) BOOST_TEST(r.body.find("</p>\r\n</body>") != std::string::npos, r.body);
        }
    }
}

BOOST_AUTO_TEST_CASE(text_footer_follows_lf_line_ends) {
    TrackOptions opt;
    opt.footer = true;
    opt.unsubscribe_url = kUnsub;
    const std::string raw = kHtmlHead +
                            "Content-Type: text/plain; charset=utf-8\r\n"
                            "Content-Transfer-Encoding: base64\r\n\r\n" +
                            base64("line one\nline two\n", 76);
    auto r = run(raw, opt);
    BOOST_REQUIRE(r.changed);
    BOOST_TEST(r.footer);
    const std::string out = split(raw).headers + "\r\n" + r.body;
    BOOST_TEST(decoded_leaf(out, "1") == "line one\nline two\n\n-- \nUnsubscribe: " + kUnsub + "\n");
}

BOOST_AUTO_TEST_CASE(pixel_placement) {
    struct Case {
        const char* label;
        std::string html;
        std::string want;
    };
    const std::string img =
        "<img src=\"https://t.example/o/PIX\" width=\"1\" height=\"1\" alt=\"\" "
        "style=\"display:block;border:0;width:1px;height:1px\" />";
    const Case cases[] = {
        {"before </body>", "<html><body>x</body></html>", "<html><body>x\r\n" + img + "\r\n</body></html>"},
        {"upper case </BODY>", "<BODY>x</BODY >\r\n", "<BODY>x\r\n" + img + "\r\n</BODY >\r\n"},
        {"before </html> without </body>", "<html><body>x</html>\r\n",
         "<html><body>x\r\n" + img + "\r\n</html>\r\n"},
        {"at the end without either", "<p>x</p>\r\n", "<p>x</p>\r\n" + img + "\r\n"},
        {"</body> in a comment is not the end", "<p>x</p><!-- </body> -->\r\n",
         "<p>x</p><!-- </body> -->\r\n" + img + "\r\n"},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.label) {
            TrackOptions opt;
            opt.opens = true;
            opt.pixel_url = kPixel;
            auto r = run(html_message(c.html), opt);
            BOOST_TEST(r.pixel);
            BOOST_TEST(r.body == c.want);
        }
    }
}

BOOST_AUTO_TEST_CASE(nothing_to_do_is_unchanged) {
    Clicks clicks;
    clicks.opt.opens = true;  // but no pixel URL
    const std::string html = "<p><a href=\"mailto:x@y.example\">m</a> {{outpost_unsubscribe_url}}</p>\r\n";
    auto r = run(html_message(html), clicks.opt);  // no unsubscribe URL: the placeholder stays
    BOOST_TEST(!r.changed);
    BOOST_TEST(r.body.empty());
    BOOST_TEST(r.placeholders == 0);

    auto none = run(html_message("<a href=\"https://x.example/\">x</a>"), TrackOptions{});
    BOOST_TEST(!none.changed);
    BOOST_TEST(none.body.empty());
}

BOOST_AUTO_TEST_CASE(hostile_mime_left_alone) {
    struct Case {
        const char* label;
        std::string raw;
        const char* note;
    };
    std::string deep = kHtmlHead + "Content-Type: multipart/mixed; boundary=b0\r\n\r\n";
    for (int i = 0; i < 40; ++i)
        deep += "--b" + std::to_string(i) + "\r\nContent-Type: multipart/mixed; boundary=b" +
                std::to_string(i + 1) + "\r\n\r\n";
    deep += "--b40\r\nContent-Type: text/html\r\n\r\n<a href=\"https://x.example/\">x</a>\r\n";
    for (int i = 40; i >= 0; --i) deep += "--b" + std::to_string(i) + "--\r\n";
    const Case cases[] = {
        {"missing closing boundary",
         kHtmlHead + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n"
                     "<a href=\"https://x.example/\">x</a>\r\n",
         "truncated"},
        {"no boundary parameter",
         kHtmlHead + "Content-Type: multipart/mixed\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n"
                     "<a href=\"https://x.example/\">x</a>\r\n--b--\r\n",
         "without boundary"},
        {"two content types",
         kHtmlHead + "Content-Type: text/html\r\nContent-Type: text/plain\r\n\r\n<a "
                     "href=\"https://x.example/\">x</a>\r\n",
         "conflicting"},
        {"broken base64",
         html_message("PGEgaHJlZj0iaHR0cHM6Ly94LmV4YW1wbGUvIj54PC9hPg@@!!\r\n",
                      "Content-Transfer-Encoding: base64\r\n"),
         "base64"},
        {"unknown transfer encoding",
         html_message("<a href=\"https://x.example/\">x</a>\r\n", "Content-Transfer-Encoding: x-rot13\r\n"),
         "unknown transfer encoding"},
        {"uuencode", html_message("begin 644 x\r\nend\r\n", "Content-Transfer-Encoding: x-uuencode\r\n"),
         "uuencode"},
        {"nested too deep", deep, "nested deeper"},
        {"signed",
         kHtmlHead +
             "Content-Type: multipart/signed; boundary=s; protocol=\"application/pgp-signature\"\r\n\r\n"
             "--s\r\nContent-Type: text/html\r\n\r\n<a href=\"https://x.example/\">x</a>\r\n"
             "--s\r\nContent-Type: application/pgp-signature\r\n\r\nsig\r\n--s--\r\n",
         "signed"},
        {"html inside message/rfc822",
         kHtmlHead +
             "Content-Type: message/rfc822\r\n\r\nFrom: x@y.example\r\nContent-Type: text/html\r\n\r\n"
             "<a href=\"https://x.example/\">x</a>\r\n",
         "part 1: message/rfc822"},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.label) {
            Clicks clicks;
            auto r = run(c.raw, clicks.opt);
            BOOST_TEST(!r.changed);
            BOOST_TEST(r.body.empty());
            BOOST_TEST(clicks.seen.empty());
            BOOST_TEST(has_note(r, c.note), notes_of(r));
        }
    }
}

BOOST_AUTO_TEST_CASE(hostile_content_does_not_crash) {
    Clicks clicks;
    clicks.opt.opens = true;
    clicks.opt.pixel_url = kPixel;
    // NUL bytes and an unclosed tag at the end of the part.
    const std::string nul("<p>a\0b <a href=\"https://x.example/\0z\">x</a><a href=\"https://y.example/", 71);
    auto r = run(html_message(nul, "Content-Transfer-Encoding: binary\r\n"), clicks.opt);
    BOOST_REQUIRE(r.changed);  // the pixel
    BOOST_TEST(r.links == 0);  // a NUL in the href; the <a> cut off by the end is dropped by gumbo
    BOOST_TEST(has_note(r, "NUL or invalid UTF-8"), notes_of(r));
    BOOST_TEST(r.body.starts_with(nul));
    // Empty body, empty headers.
    BOOST_TEST(!track_message("", "", clicks.opt).changed);
    // An empty HTML part still is the main one: it gets the pixel alone.
    auto empty = track_message(kHtmlHead + "Content-Type: text/html\r\n", "", clicks.opt);
    BOOST_TEST(empty.pixel);
    BOOST_TEST(empty.body.starts_with("<img src="));
    // Garbage.
    const std::string junk = "\x01\x02:::\r\n\r\n--\r\n--\r\n\xff\xfe";
    BOOST_CHECK_NO_THROW(track_message(junk, junk, clicks.opt));
}

BOOST_AUTO_TEST_CASE(size_and_nesting_limits) {
    Clicks clicks;
    // A 10 MB part is over the default 4 MiB limit.
    std::string big = "<html><body>";
    while (big.size() < 10'000'000) big += "<p>text <a href=\"https://x.example/\">x</a></p>\r\n";
    auto r = run(html_message(big, "Content-Transfer-Encoding: 8bit\r\n"), clicks.opt);
    BOOST_TEST(!r.changed);
    BOOST_TEST(has_note(r, "size limit"), notes_of(r));
    BOOST_TEST(clicks.seen.empty());

    // Deeply nested elements would take gumbo quadratic time.
    std::string divs = "<a href=\"https://x.example/\">x</a>";
    for (int i = 0; i < 50000; ++i) divs += "<div>";
    auto d = run(html_message(divs), clicks.opt);
    BOOST_TEST(!d.changed);
    BOOST_TEST(has_note(d, "tags, over the limit"), notes_of(d));
}

BOOST_AUTO_TEST_CASE(long_7bit_line_leaves_the_part_alone) {
    Clicks clicks;
    clicks.opt.click_url = [](const std::string&) { return "https://t.example/c/" + std::string(100, 'A'); };
    const std::string filler(950, 'x');
    const std::string html = "<p>" + filler + "<a href=\"https://x.example/\">x</a></p>\r\n";
    auto r = run(html_message(html, "Content-Transfer-Encoding: 7bit\r\n"), clicks.opt);
    BOOST_TEST(!r.changed);
    BOOST_TEST(r.links == 0);
    BOOST_TEST(has_note(r, "over 998"), notes_of(r));

    // The same through quoted-printable is fine: the encoder wraps.
    auto q = run(html_message(html, "Content-Transfer-Encoding: quoted-printable\r\n"), clicks.opt);
    BOOST_TEST(q.changed);
    for (const auto& line : lines_of(q.body)) BOOST_TEST(line.size() <= 76u);
}

BOOST_AUTO_TEST_CASE(reencoding_never_starts_a_line_with_a_boundary) {
    // "--b" mid-line in a quoted-printable HTML part of a multipart with
    // boundary "b": wherever the re-encoding puts its soft breaks, no line of
    // the new part may begin with "--b" (it would end the part there). Some
    // of these lengths put a soft break right before it; those parts are
    // left alone with a note, the others tracked.
    size_t tracked = 0, left = 0;
    for (size_t k = 0; k < 160; ++k) {
        const std::string html = "<html><body><p>" + std::string(k, 'x') +
                                 "--b <a href=\"https://shop.example/a\">a</a></p></body></html>\r\n";
        const std::string raw =
            "From: a@example.com\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n"
            "--b\r\nContent-Type: text/html; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n" +
            html + "--b--\r\n";
        Clicks clicks;
        const auto r = run(raw, clicks.opt);
        BOOST_TEST_CONTEXT("k=" << k) {
            if (!r.changed) {
                BOOST_TEST(has_note(r, "MIME boundary"), notes_of(r));
                ++left;
                continue;
            }
            ++tracked;
            size_t boundary_lines = 0;
            for (const auto& line : lines_of(r.body)) boundary_lines += line.rfind("--b", 0) == 0;
            BOOST_TEST(boundary_lines == 2u);  // the opening and the closing delimiter only
        }
    }
    BOOST_TEST(tracked > 0u);
    BOOST_TEST(left > 0u);  // the case happened, and was caught
}
