// reports.cpp - DSN and ARF reading over GMime.
#include "control/lib/reports.h"

#include <gmime/gmime.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

#include "base/gmime.h"
#include "base/text.h"

namespace outpost {
namespace {

constexpr size_t kMaxAddress = 320;
constexpr size_t kMaxDiagnostic = 500;
constexpr int kMaxDepth = 8;  // multipart levels searched for the report parts

bool digit(char c) {
    return c >= '0' && c <= '9';
}

// Unfolded, one line, control bytes dropped, cut at `max` octets (never
// inside a UTF-8 sequence).
std::string one_line(std::string_view s, size_t max) {
    std::string out;
    for (unsigned char c : s) {
        if (c == '\r' || c == '\n' || c == '\t') c = ' ';
        if (c < 0x20 || c == 0x7f) continue;
        if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
        if (out.size() >= max) {
            if ((c & 0xc0) == 0x80)  // the cut falls inside a sequence: drop its start
                while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0x80)) {
                    const bool lead = (static_cast<unsigned char>(out.back()) & 0xc0) == 0xc0;
                    out.pop_back();
                    if (lead) break;
                }
            break;
        }
        out += static_cast<char>(c);
    }
    return trim(out);
}

// "<User@Example.COM>" -> "user@example.com"; "" unless a plausible address.
// With `keep_local_case` only the domain is lower-cased: a VERP local part
// carries a case-sensitive token.
std::string clean_address(std::string_view in, bool keep_local_case = false) {
    std::string a = trim(in);
    if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = trim(a.substr(1, a.size() - 2));
    if (a.empty() || a.size() > kMaxAddress) return "";
    for (unsigned char c : a)
        if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',' || c == ';') return "";
    const size_t at = a.rfind('@');
    if (at == 0 || at == std::string::npos || at + 1 >= a.size()) return "";
    return keep_local_case ? a.substr(0, at + 1) + lower(a.substr(at + 1)) : lower(a);
}

// "rfc822; addr" -> addr; other address types -> "".
std::string typed_address(std::string_view v) {
    const size_t semi = v.find(';');
    if (semi == std::string_view::npos) return "";
    if (lower(trim(v.substr(0, semi))) != "rfc822") return "";
    return clean_address(v.substr(semi + 1));
}

// "smtp; 550 ..." -> "550 ..."; the type is a token (RFC 3464 diagnostic-type),
// so a ";" further into text without one is left alone.
std::string untyped(std::string_view v) {
    const size_t semi = v.find(';');
    if (semi != std::string_view::npos && semi <= 32) {
        const std::string type = trim(v.substr(0, semi));
        bool token = !type.empty();
        for (unsigned char c : type) token = token && (std::isalnum(c) || c == '-' || c == '_' || c == '.');
        if (token) v = v.substr(semi + 1);
    }
    return one_line(v, kMaxDiagnostic);
}

// "dns; MX.Example.org" -> "mx.example.org"; "" unless host-shaped.
std::string host_of(std::string_view v) {
    std::string h = untyped(v);
    if (auto sp = h.find(' '); sp != std::string::npos) h.resize(sp);
    if (h.size() > 255) return "";
    for (unsigned char c : h)
        if (!std::isalnum(c) && c != '.' && c != '-' && c != '_' && c != '[' && c != ']' && c != ':')
            return "";
    return lower(h);
}

// N.NNN.NNN with a class of 2, 4 or 5 (RFC 3463).
bool valid_status(std::string_view s) {
    if (s.size() < 5 || s.size() > 9 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
        return false;
    size_t i = 2;
    for (int part = 0; part < 2; ++part) {
        const size_t start = i;
        while (i < s.size() && digit(s[i])) ++i;
        if (i == start || i - start > 3) return false;
        if (part == 0 && (i >= s.size() || s[i++] != '.')) return false;
    }
    return i == s.size();
}

// The status code of a Status field: "5.1.1", or "5.1.1 (a comment)";
// anything else after the code makes the field malformed.
std::string status_of(std::string_view v) {
    std::string t = trim(v);
    if (const size_t paren = t.find('('); paren != std::string::npos) {
        if (t.back() != ')') return "";
        t = trim(t.substr(0, paren));
    }
    return valid_status(t) ? t : "";
}

// "550 5.1.1 text" / "550-5.1.1 text": the reply code's class ('5'), and
// the enhanced code when it follows and agrees with that class.
struct Reply {
    char klass = 0;
    std::string enhanced;
};
Reply reply_of(std::string_view t) {
    Reply r;
    if (t.size() < 3 || !digit(t[0]) || !digit(t[1]) || !digit(t[2])) return r;
    if (t[0] != '2' && t[0] != '4' && t[0] != '5') return r;
    if (t.size() > 3 && t[3] != ' ' && t[3] != '-') return r;
    r.klass = t[0];
    if (t.size() > 4) {
        std::string_view rest = t.substr(4);
        const std::string_view code = rest.substr(0, rest.find_first_of(" \t"));
        if (valid_status(code) && code[0] == r.klass) r.enhanced = std::string(code);
    }
    return r;
}

GMimeMessage* parse_message(std::string_view text) {
    GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(text.data(), text.size()));
    GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
    return g_mime_parser_construct_message(parser.get(), nullptr);
}

// Whether a base64 body stops mid-quantum. GMime's decoder drops such a
// tail quietly, and what it decoded before may end inside a value.
bool truncated_base64(GMimeDataWrapper* w) {
    if (g_mime_data_wrapper_get_encoding(w) != GMIME_CONTENT_ENCODING_BASE64) return false;
    GMimeStream* raw = g_mime_data_wrapper_get_stream(w);
    if (!raw || g_mime_stream_reset(raw) < 0) return false;
    size_t symbols = 0;
    char buf[4096];
    for (ssize_t n; (n = g_mime_stream_read(raw, buf, sizeof buf)) > 0;)
        for (ssize_t i = 0; i < n; ++i) {
            const unsigned char c = static_cast<unsigned char>(buf[i]);
            if (std::isalnum(c) || c == '+' || c == '/' || c == '=') ++symbols;
        }
    g_mime_stream_reset(raw);
    return symbols % 4 != 0;
}

// A leaf part's content, transfer encoding undone; with `check`, a
// truncated base64 body sets it to false and gives "".
std::string content_of(GMimeObject* obj, bool* check = nullptr) {
    if (!GMIME_IS_PART(obj)) return "";
    GMimeDataWrapper* w = g_mime_part_get_content(GMIME_PART(obj));
    if (!w) return "";
    if (check && truncated_base64(w)) {
        *check = false;
        return "";
    }
    GPtr<GMimeStream> mem(g_mime_stream_mem_new());
    if (g_mime_data_wrapper_write_to_stream(w, mem.get()) < 0) return "";
    GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem.get()));
    return std::string(reinterpret_cast<const char*>(bytes->data), bytes->len);
}

// An object written out as text (a message/* part GMime parsed as a message).
std::string object_text(GMimeObject* o) {
    char* text = g_mime_object_to_string(o, nullptr);
    if (!text) return "";
    std::string out(text);
    g_free(text);
    return out;
}

// One group of "Name: value" fields, parsed by GMime as a header block.
using Fields = std::vector<std::pair<std::string, std::string>>;

Fields fields_of(const std::string& group) {
    Fields out;
    GPtr<GMimeMessage> m(parse_message(group + "\r\n\r\n"));
    if (!m) return out;
    GMimeHeaderList* list = g_mime_object_get_header_list(GMIME_OBJECT(m.get()));
    const int n = g_mime_header_list_get_count(list);
    for (int i = 0; i < n; ++i) {
        GMimeHeader* h = g_mime_header_list_get_header_at(list, i);
        const char* name = g_mime_header_get_name(h);
        const char* raw = g_mime_header_get_raw_value(h);
        if (!name || !raw) continue;
        // Folding undone; other control bytes kept, so the address checks see them.
        std::string v;
        for (const char* c = raw; *c && v.size() < 2 * kMaxDiagnostic; ++c)
            v += (*c == '\r' || *c == '\n') ? ' ' : *c;
        out.emplace_back(lower(name), trim(v));
    }
    return out;
}

std::string field(const Fields& f, const char* name) {
    for (const auto& [k, v] : f)
        if (k == name) return v;
    return "";
}

// Lines of a text, without their CR LF or LF.
std::vector<std::string_view> lines_of(std::string_view text) {
    std::vector<std::string_view> out;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t e = text.find('\n', pos);
        if (e == std::string_view::npos) e = text.size();
        std::string_view line = text.substr(pos, e - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        out.push_back(line);
        pos = e + 1;
    }
    return out;
}

bool blank(std::string_view line) {
    return std::all_of(line.begin(), line.end(), [](char c) { return c == ' ' || c == '\t'; });
}

// Groups of fields separated by blank lines. A group holding a NUL or a
// bare CR is marked junk: GMime would cut its value there.
struct Group {
    std::string text;
    bool junk = false;
};

std::vector<Group> groups_of(std::string_view text) {
    std::vector<Group> out;
    Group cur;
    for (std::string_view line : lines_of(text)) {
        if (blank(line)) {
            if (!cur.text.empty()) out.push_back(std::move(cur));
            cur = Group{};
            continue;
        }
        if (line.find('\0') != std::string_view::npos || line.find('\r') != std::string_view::npos)
            cur.junk = true;
        cur.text.append(line).append("\r\n");
    }
    if (!cur.text.empty()) out.push_back(std::move(cur));
    return out;
}

// The first mailbox of a list, members of a group ("team: a@b, c@d;") included.
std::string first_mailbox(InternetAddressList* list, int depth = 0) {
    if (!list || depth > 1) return "";
    for (int i = 0; i < internet_address_list_length(list); ++i) {
        InternetAddress* a = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
            if (const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a)))
                if (auto clean = clean_address(addr); !clean.empty()) return clean;
        } else if (INTERNET_ADDRESS_IS_GROUP(a)) {
            auto m = first_mailbox(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)), depth + 1);
            if (!m.empty()) return m;
        }
    }
    return "";
}

// d= and s= of a DKIM-Signature value (a tag list: tag=value; ...).
std::pair<std::string, std::string> dkim_ds(const std::string& value) {
    std::string d, s;
    size_t pos = 0;
    while (pos <= value.size()) {
        size_t semi = value.find(';', pos);
        if (semi == std::string::npos) semi = value.size();
        const std::string tag = value.substr(pos, semi - pos);
        const size_t eq = tag.find('=');
        if (eq != std::string::npos) {
            std::string k = trim(tag.substr(0, eq)), v;
            for (char c : tag.substr(eq + 1))
                if (!std::isspace(static_cast<unsigned char>(c))) v += c;
            if (k == "d") d = lower(v);
            if (k == "s") s = lower(v);
        }
        pos = semi + 1;
    }
    return {d, s};
}

ReportHeaders headers_of(GMimeMessage* m) {
    ReportHeaders h;
    if (!m) return h;
    GMimeObject* obj = GMIME_OBJECT(m);
    if (const char* rp = g_mime_object_get_header(obj, "Return-Path"))
        h.return_path = clean_address(rp, true);
    h.from = first_mailbox(g_mime_message_get_from(m));
    h.to = first_mailbox(g_mime_message_get_to(m));
    if (const char* id = g_mime_message_get_message_id(m)) h.message_id = one_line(id, kMaxAddress);
    GMimeHeaderList* list = g_mime_object_get_header_list(obj);
    const int n = g_mime_header_list_get_count(list);
    for (int i = 0; i < n; ++i) {
        GMimeHeader* hd = g_mime_header_list_get_header_at(list, i);
        const char* name = g_mime_header_get_name(hd);
        const char* raw = g_mime_header_get_raw_value(hd);
        if (!name || !raw) continue;
        const std::string key = lower(name);
        if (key == "dkim-signature" && h.dkim.size() < 16) {
            auto ds = dkim_ds(raw);
            if (!ds.first.empty() && !ds.second.empty()) h.dkim.push_back(std::move(ds));
        } else if (key == "list-unsubscribe" && h.list_unsubscribe.size() < 8) {
            if (auto v = one_line(raw, 2000); !v.empty()) h.list_unsubscribe.push_back(std::move(v));
        }
    }
    return h;
}

ReportHeaders headers_from_text(std::string_view text) {
    GPtr<GMimeMessage> m(parse_message(text));
    return headers_of(m.get());
}

// The original message of a report: a message/rfc822 part, or a
// text/rfc822-headers part.
ReportHeaders original_of(GMimeObject* part) {
    if (GMIME_IS_MESSAGE_PART(part))
        return headers_of(g_mime_message_part_get_message(GMIME_MESSAGE_PART(part)));
    std::string text = content_of(part);
    if (text.find("\r\n\r\n") == std::string::npos && text.find("\n\n") == std::string::npos)
        text += "\r\n\r\n";
    return headers_from_text(text);
}

bool is_type(GMimeObject* o, const char* type, const char* subtype) {
    GMimeContentType* ct = g_mime_object_get_content_type(o);
    return ct && g_mime_content_type_is_type(ct, type, subtype);
}

// The first multipart/report with this report-type, at most kMaxDepth
// levels down (a report forwarded inside multipart/mixed is still found).
GMimeMultipart* find_report(GMimeObject* o, const char* report_type, int depth, bool& other_type) {
    if (!o || depth > kMaxDepth || !GMIME_IS_MULTIPART(o)) return nullptr;
    if (is_type(o, "multipart", "report")) {
        const char* rt = g_mime_content_type_get_parameter(g_mime_object_get_content_type(o), "report-type");
        if (rt && lower(rt) == report_type) return GMIME_MULTIPART(o);
        other_type = true;
        return nullptr;
    }
    GMimeMultipart* mp = GMIME_MULTIPART(o);
    for (int i = 0; i < g_mime_multipart_get_count(mp); ++i)
        if (auto* r = find_report(g_mime_multipart_get_part(mp, i), report_type, depth + 1, other_type))
            return r;
    return nullptr;
}

struct Parsed {
    GPtr<GMimeMessage> message;
    std::string error;
};

Parsed parse_report_message(std::string_view text) {
    gmime_init_once();
    Parsed p;
    if (text.empty()) {
        p.error = "empty message";
        return p;
    }
    if (text.size() > kMaxReportBytes) {
        p.error = "report larger than 10 MB";
        return p;
    }
    p.message.reset(parse_message(text));
    if (!p.message || !g_mime_message_get_mime_part(p.message.get())) p.error = "not a mail message";
    return p;
}

// ---- text bounces --------------------------------------------------------

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && lower(s.substr(0, prefix.size())) == lower(prefix);
}

size_t indent_of(std::string_view line) {
    size_t i = 0;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) i += line[i] == '\t' ? 8 : 1;
    return i;
}

// At most this much of a recipient's detail lines is looked at: a real
// reply is a few lines, a hostile one is not read further.
constexpr size_t kMaxDetailLines = 20;
constexpr size_t kMaxDetailLine = 1000;

// A text bounce's recipient and the lines that explain it.
struct TextRecipient {
    std::string address;
    std::vector<std::string> details;  // trimmed, each at most kMaxDetailLine
};

void add_detail(TextRecipient& r, std::string_view line) {
    if (r.details.size() < kMaxDetailLines) r.details.push_back(one_line(line, kMaxDetailLine));
}

// Where an SMTP reply starts in a detail line: at its start, after the
// qmail "Remote host said: ", or after a ": " (Exim's older one-line
// "host H [IP]: 550 ..."); npos if none.
size_t reply_at(std::string_view d) {
    static constexpr std::string_view kSaid = "Remote host said: ";
    if (reply_of(d).klass) return 0;
    if (starts_with_nocase(d, kSaid) && reply_of(d.substr(kSaid.size())).klass) return kSaid.size();
    for (size_t p = d.find(": "); p != std::string_view::npos; p = d.find(": ", p + 1))
        if (reply_of(d.substr(p + 2)).klass) return p + 2;
    return std::string_view::npos;
}

// The remote host a detail line names: Exim's "host H [IP]...", qmail's
// "Giving up on IP." and "IP does not like recipient.".
std::string remote_of(std::string_view d) {
    std::string_view h;
    if (starts_with_nocase(d, "host ")) {
        h = d.substr(5);
    } else if (starts_with_nocase(d, "Giving up on ")) {
        h = d.substr(13);
    } else if (const size_t p = d.find(" does not like recipient"); p != std::string_view::npos) {
        h = d.substr(0, p);
    } else {
        return "";
    }
    h = h.substr(0, h.find_first_of(" \t:"));
    while (!h.empty() && h.back() == '.') h.remove_suffix(1);
    return host_of(h);
}

// The recipient a text bounce reports: the SMTP reply among its details
// gives the diagnostic (from the reply on) and the status; failing a reply,
// the details are the diagnostic and `klass` the status's class. qmail's
// own "(#5.1.1)" is an enhanced code too.
DsnRecipient text_recipient(const TextRecipient& t, const std::string& action, char klass) {
    DsnRecipient r;
    r.final_recipient = t.address;
    r.action = action;
    size_t from = 0, at = std::string_view::npos;
    for (size_t i = 0; i < t.details.size(); ++i) {
        if (r.remote_mta.empty()) r.remote_mta = remote_of(t.details[i]);
        if (at == std::string_view::npos && (at = reply_at(t.details[i])) != std::string_view::npos) from = i;
    }
    std::string diag;
    for (size_t i = from; i < t.details.size(); ++i) {
        std::string_view d = t.details[i];
        if (i == from && at != std::string_view::npos) d.remove_prefix(at);
        if (starts_with_nocase(d, "Giving up on ")) continue;  // qmail's own words, not the reason
        diag.append(diag.empty() ? "" : " ").append(d);
    }
    r.diagnostic = one_line(diag, kMaxDiagnostic);
    const Reply reply = reply_of(r.diagnostic);
    r.diagnostic_status = reply.enhanced;
    std::string own;  // "(#5.1.1)"
    if (const size_t p = r.diagnostic.find("(#"); p != std::string::npos) {
        const size_t e = r.diagnostic.find(')', p);
        if (e != std::string::npos && valid_status(std::string_view(r.diagnostic).substr(p + 2, e - p - 2)))
            own = r.diagnostic.substr(p + 2, e - p - 2);
    }
    if (!reply.enhanced.empty()) {
        r.status = reply.enhanced;
    } else if (!own.empty()) {
        r.status = own;
    } else {
        r.status = std::string(1, reply.klass ? reply.klass : klass) + ".0.0";
        r.status_inferred = true;
    }
    return r;
}

// The first token of `line` as an address ("<a@b>:" and "a@b" alike).
std::string address_token(std::string_view line) {
    std::string_view t = line.substr(0, line.find_first_of(" \t"));
    if (!t.empty() && t.back() == ':') t.remove_suffix(1);
    return clean_address(t);
}

void add_text_recipient(Dsn& d, const TextRecipient& t, const std::string& action, char klass) {
    if (t.address.empty()) return;
    if (d.recipients.size() >= kMaxReportRecipients) {
        d.truncated = true;
        return;
    }
    d.recipients.push_back(text_recipient(t, action, klass));
}

// The original a text bounce quotes after its marker line.
void quoted_original(const std::vector<std::string_view>& lines, size_t marker, std::string_view body,
                     Dsn& d) {
    size_t i = marker + 1;
    while (i < lines.size() && blank(lines[i])) ++i;
    if (i >= lines.size()) return;
    std::string text(body.substr(static_cast<size_t>(lines[i].data() - body.data())));
    if (text.find("\n\n") == std::string::npos && text.find("\r\n\r\n") == std::string::npos)
        text += "\r\n\r\n";  // headers only, cut short
    d.original = headers_from_text(text);
}

// Exim's text bounce: after an explanation ending in "...failed:" (or, in
// its warning, "...not yet been delivered is/are:"), each address indented
// by two spaces and its details by more ("host H [IP]", "SMTP error from
// remote mail server after RCPT TO:<a>:", the reply). The original follows
// a "------ This is a copy of the message..." line.
bool exim_text(std::string_view body, Dsn& d) {
    const auto lines = lines_of(body);
    size_t marker = lines.size(), start = lines.size();
    std::string action;
    for (size_t i = 0; i < lines.size(); ++i) {
        const std::string t = lower(trim(lines[i].substr(0, 200)));
        if (start == lines.size() && !t.empty() && t.back() == ':' && indent_of(lines[i]) == 0) {
            if (t.size() >= 7 && t.compare(t.size() - 7, 7, "failed:") == 0) action = "failed";
            if (t.find("not yet been delivered") != std::string::npos) action = "delayed";
            if (!action.empty()) start = i;
        }
        if (starts_with_nocase(lines[i], "------ This is a copy of the message")) {
            marker = i;
            break;
        }
    }
    if (start >= marker) return false;
    const char klass = action == "failed" ? '5' : '4';
    TextRecipient cur;
    bool in = false;  // within an address we could read
    for (size_t i = start + 1; i < marker && !d.truncated; ++i) {
        const std::string_view line = lines[i];
        if (blank(line)) continue;
        const size_t ind = indent_of(line);
        if (ind == 0) break;  // the explanation goes on: the list is over
        if (ind == 2) {
            if (in) add_text_recipient(d, cur, action, klass);
            cur = TextRecipient{address_token(trim(line.substr(0, kMaxDetailLine))), {}};
            in = !cur.address.empty();
        } else if (in) {
            add_detail(cur, line);
        }
    }
    if (in) add_text_recipient(d, cur, action, klass);
    if (d.recipients.empty()) return false;
    if (marker < lines.size()) quoted_original(lines, marker, body, d);
    d.format = "exim-text";
    return true;
}

// qmail-send's text bounce: "Hi. This is the qmail-send program at HOST.",
// then each address as "<a@b>:" at the start of a line, its details up to
// the next blank line ("Remote host said: 550 ...", "Giving up on IP."),
// then "--- Below this line is a copy of the message." (or "--- Enclosed
// are the original headers of the message.") and the original.
bool qmail_text(std::string_view body, Dsn& d) {
    const auto lines = lines_of(body);
    static constexpr std::string_view kHello = "Hi. This is the qmail-send program at ";
    size_t hello = lines.size(), marker = lines.size();
    for (size_t i = 0; i < lines.size(); ++i) {
        if (hello == lines.size() && starts_with_nocase(lines[i], kHello)) hello = i;
        if (starts_with_nocase(lines[i], "--- Below this line is a copy of the message") ||
            starts_with_nocase(lines[i], "--- Enclosed are the original headers of the message")) {
            marker = i;
            break;
        }
    }
    if (hello >= marker) return false;
    std::string host(trim(lines[hello].substr(kHello.size(), 300)));
    if (!host.empty() && host.back() == '.') host.pop_back();
    d.reporting_mta = host_of(host);
    TextRecipient cur;
    bool in = false;
    auto flush = [&] {
        if (!in) return;
        add_text_recipient(d, cur, "failed", '5');
        in = false;
    };
    for (size_t i = hello + 1; i < marker && !d.truncated; ++i) {
        const std::string_view line = lines[i];
        if (blank(line)) {
            flush();
            continue;
        }
        if (line.front() == '<' && line.size() < kMaxDetailLine && line.back() == ':' &&
            line[line.size() - 2] == '>') {
            flush();
            cur = TextRecipient{address_token(line), {}};
            in = !cur.address.empty();
        } else if (in) {
            add_detail(cur, line);
        }
    }
    flush();
    if (d.recipients.empty()) return false;
    if (marker < lines.size()) quoted_original(lines, marker, body, d);
    d.format = "qmail-text";
    return true;
}

}  // namespace

Dsn parse_dsn(std::string_view text) {
    Dsn d;
    try {
        Parsed p = parse_report_message(text);
        if (!p.error.empty()) {
            d.error = p.error;
            return d;
        }
        GMimeObject* top = g_mime_message_get_mime_part(p.message.get());
        bool other_type = false;
        GMimeMultipart* report = find_report(top, "delivery-status", 0, other_type);
        if (!report && !other_type) report = find_report(top, "global-delivery-status", 0, other_type);
        if (!report) {
            if (!other_type && GMIME_IS_PART(top) && is_type(top, "text", "*")) {
                const std::string body = content_of(top);
                if (exim_text(body, d) || qmail_text(body, d)) {
                    d.ok = true;
                    return d;
                }
                d = Dsn{};
            }
            d.error = other_type ? "a multipart/report of another report-type"
                                 : "no multipart/report; report-type=delivery-status";
            return d;
        }
        GMimeObject* status = nullptr;
        GMimeObject* original = nullptr;
        for (int i = 0; i < g_mime_multipart_get_count(report); ++i) {
            GMimeObject* part = g_mime_multipart_get_part(report, i);
            if (!status && (is_type(part, "message", "delivery-status") ||
                            is_type(part, "message", "global-delivery-status")))
                status = part;
            else if (!original &&
                     (is_type(part, "message", "rfc822") || is_type(part, "message", "global") ||
                      is_type(part, "text", "rfc822-headers") || is_type(part, "message", "global-headers")))
                original = part;
        }
        if (!status) {
            d.error = "the report has no message/delivery-status part";
            return d;
        }
        // message/delivery-status may come as a message part (GMime reads
        // its first group as headers) or a leaf: take its text either way.
        std::string body;
        bool whole = true;
        if (GMIME_IS_MESSAGE_PART(status)) {
            GMimeMessage* m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(status));
            if (m) body = object_text(GMIME_OBJECT(m));
        } else {
            body = content_of(status, &whole);
        }
        if (!whole) {
            d.error = "the delivery-status part's base64 is truncated";
            return d;
        }
        const auto groups = groups_of(body);
        size_t first = 0;
        if (!groups.empty() && !groups.front().junk) {
            const Fields per_message = fields_of(groups.front().text);
            // A report that opens with a recipient group has no per-message one.
            if (field(per_message, "final-recipient").empty()) {
                d.reporting_mta = host_of(field(per_message, "reporting-mta"));
                d.arrival_date = one_line(field(per_message, "arrival-date"), 100);
                first = 1;
            }
        } else if (!groups.empty()) {
            first = 1;
        }
        bool any_group = false;
        for (size_t i = first; i < groups.size(); ++i) {
            if (groups[i].junk) {
                ++d.skipped;
                continue;
            }
            if (d.recipients.size() >= kMaxReportRecipients) {
                d.truncated = true;
                break;
            }
            any_group = true;
            const Fields f = fields_of(groups[i].text);
            DsnRecipient r;
            r.final_recipient = typed_address(field(f, "final-recipient"));
            r.original_recipient = typed_address(field(f, "original-recipient"));
            std::string action = lower(trim(field(f, "action")));
            if (const size_t paren = action.find('('); paren != std::string::npos)
                action = trim(action.substr(0, paren));  // "failed (comment)"
            r.action = action;
            r.status = status_of(field(f, "status"));
            r.diagnostic = untyped(field(f, "diagnostic-code"));
            r.diagnostic_status = reply_of(r.diagnostic).enhanced;
            r.remote_mta = host_of(field(f, "remote-mta"));
            if (r.final_recipient.empty() && r.original_recipient.empty()) continue;
            static const char* const actions[] = {"failed", "delayed", "delivered", "relayed", "expanded"};
            if (std::find(std::begin(actions), std::end(actions), r.action) == std::end(actions)) continue;
            d.recipients.push_back(std::move(r));
        }
        if (d.recipients.empty()) {
            d.error = !any_group && !d.skipped
                          ? "the delivery-status part has no per-recipient fields"
                          : "no per-recipient group names an rfc822 recipient and a valid action";
            return d;
        }
        if (original) d.original = original_of(original);
        d.format = "rfc3464";
        d.ok = true;
    } catch (const std::exception& e) {
        d = Dsn{};
        d.error = std::string("unreadable report: ") + e.what();
    }
    return d;
}

Arf parse_arf(std::string_view text) {
    Arf a;
    try {
        Parsed p = parse_report_message(text);
        if (!p.error.empty()) {
            a.error = p.error;
            return a;
        }
        bool other_type = false;
        GMimeMultipart* report =
            find_report(g_mime_message_get_mime_part(p.message.get()), "feedback-report", 0, other_type);
        if (!report) {
            a.error = other_type ? "a multipart/report of another report-type"
                                 : "no multipart/report; report-type=feedback-report";
            return a;
        }
        GMimeObject* feedback = nullptr;
        GMimeObject* original = nullptr;
        for (int i = 0; i < g_mime_multipart_get_count(report); ++i) {
            GMimeObject* part = g_mime_multipart_get_part(report, i);
            if (!feedback && is_type(part, "message", "feedback-report"))
                feedback = part;
            else if (!original && (is_type(part, "message", "rfc822") || is_type(part, "message", "global") ||
                                   is_type(part, "text", "rfc822-headers")))
                original = part;
        }
        if (!feedback) {
            a.error = "the report has no message/feedback-report part";
            return a;
        }
        std::string body;
        bool whole = true;
        if (GMIME_IS_MESSAGE_PART(feedback)) {
            GMimeMessage* m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(feedback));
            if (m) body = object_text(GMIME_OBJECT(m));
        } else {
            body = content_of(feedback, &whole);
        }
        if (!whole) {
            a.error = "the feedback-report part's base64 is truncated";
            return a;
        }
        const auto groups = groups_of(body);
        if (groups.empty()) {
            a.error = "the feedback-report part is empty";
            return a;
        }
        if (groups.front().junk) {
            a.error = "the feedback-report part holds a NUL or a bare CR";
            return a;
        }
        const Fields f = fields_of(groups.front().text);
        a.feedback_type = lower(trim(field(f, "feedback-type")));
        if (a.feedback_type.empty()) {
            a.error = "the feedback report has no Feedback-Type";
            return a;
        }
        const bool token = a.feedback_type.size() <= 64 &&
                           std::all_of(a.feedback_type.begin(), a.feedback_type.end(), [](unsigned char c) {
                               return std::isalnum(c) || c == '-' || c == '_' || c == '.';
                           });
        if (!token) {
            a = Arf{};
            a.error = "the Feedback-Type is not a token";
            return a;
        }
        a.user_agent = one_line(field(f, "user-agent"), 200);
        a.version = one_line(field(f, "version"), 20);
        a.original_mail_from = clean_address(field(f, "original-mail-from"), true);
        for (const auto& [k, v] : f)
            if (k == "original-rcpt-to" && a.original_rcpts.size() < kMaxReportRecipients)
                if (auto addr = clean_address(v); !addr.empty()) a.original_rcpts.push_back(addr);
        if (!a.original_rcpts.empty()) a.original_rcpt_to = a.original_rcpts.front();
        a.reported_domain = host_of(field(f, "reported-domain"));
        a.source_ip = host_of(field(f, "source-ip"));
        a.arrival_date = one_line(field(f, "arrival-date"), 100);
        if (a.arrival_date.empty()) a.arrival_date = one_line(field(f, "received-date"), 100);
        a.reporting_mta = host_of(field(f, "reporting-mta"));
        if (original) a.original = original_of(original);
        a.ok = true;
    } catch (const std::exception& e) {
        a = Arf{};
        a.error = std::string("unreadable report: ") + e.what();
    }
    return a;
}

}  // namespace outpost
