// reports.cpp - DSN and ARF reading over GMime.
#include "control/lib/reports.h"

#include <gmime/gmime.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>
#include <regex>

namespace outpost {
namespace {

constexpr size_t kMaxAddress = 320;
constexpr size_t kMaxDiagnostic = 500;
constexpr int kMaxDepth = 8;  // multipart levels searched for the report parts

template <typename T>
struct GUnref {
    void operator()(T* p) const {
        if (p) g_object_unref(p);
    }
};
template <typename T>
using GPtr = std::unique_ptr<T, GUnref<T>>;

void init_once() {
    static std::once_flag once;
    std::call_once(once, [] { g_mime_init(); });
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string trim(std::string_view s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return std::string(s.substr(b, e - b));
}

// Unfolded, one line, control bytes dropped, cut at `max`.
std::string one_line(std::string_view s, size_t max) {
    std::string out;
    for (unsigned char c : s) {
        if (c == '\r' || c == '\n' || c == '\t') c = ' ';
        if (c < 0x20 || c == 0x7f) continue;
        if (c == ' ' && !out.empty() && out.back() == ' ') continue;
        out += static_cast<char>(c);
        if (out.size() >= max) break;
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

// "smtp; 550 ..." -> "550 ..."; "dns; mx.example" -> "mx.example".
std::string untyped(std::string_view v) {
    const size_t semi = v.find(';');
    return one_line(semi == std::string_view::npos ? v : v.substr(semi + 1), kMaxDiagnostic);
}

bool valid_status(const std::string& s) {
    static const std::regex rx("^[245]\\.[0-9]{1,3}\\.[0-9]{1,3}$");
    return std::regex_match(s, rx);
}

// The status code of a Status field ("5.1.1", or "5.1.1 (comment)").
std::string status_of(std::string_view v) {
    std::string t = trim(v);
    if (auto sp = t.find_first_of(" \t("); sp != std::string::npos) t = t.substr(0, sp);
    return valid_status(t) ? t : "";
}

GMimeMessage* parse_message(std::string_view text) {
    GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(text.data(), text.size()));
    GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
    return g_mime_parser_construct_message(parser.get(), nullptr);
}

// A leaf part's content, transfer encoding undone.
std::string content_of(GMimeObject* obj) {
    if (!GMIME_IS_PART(obj)) return "";
    GMimeDataWrapper* w = g_mime_part_get_content(GMIME_PART(obj));
    if (!w) return "";
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

// Groups of fields separated by blank lines.
std::vector<std::string> groups_of(const std::string& text) {
    std::vector<std::string> out;
    std::string cur;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t e = text.find('\n', pos);
        if (e == std::string::npos) e = text.size();
        std::string line = text.substr(pos, e - pos);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        pos = e + 1;
        if (trim(line).empty()) {
            if (!cur.empty()) out.push_back(std::move(cur));
            cur.clear();
        } else {
            cur += line + "\r\n";
        }
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    return out;
}

std::string first_mailbox(InternetAddressList* list) {
    if (!list) return "";
    for (int i = 0; i < internet_address_list_length(list); ++i) {
        InternetAddress* a = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(a))
            if (const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a)))
                return clean_address(addr);
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
    if (const char* rp = g_mime_object_get_header(obj, "Return-Path")) h.return_path = clean_address(rp, true);
    h.from = first_mailbox(g_mime_message_get_from(m));
    h.to = first_mailbox(g_mime_message_get_to(m));
    if (const char* id = g_mime_message_get_message_id(m)) h.message_id = one_line(id, kMaxAddress);
    GMimeHeaderList* list = g_mime_object_get_header_list(obj);
    const int n = g_mime_header_list_get_count(list);
    for (int i = 0; i < n && h.dkim.size() < 16; ++i) {
        GMimeHeader* hd = g_mime_header_list_get_header_at(list, i);
        const char* name = g_mime_header_get_name(hd);
        const char* raw = g_mime_header_get_raw_value(hd);
        if (name && raw && lower(name) == "dkim-signature") {
            auto ds = dkim_ds(raw);
            if (!ds.first.empty()) h.dkim.push_back(std::move(ds));
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
    init_once();
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

// ---- Exim's text bounce -------------------------------------------------

// Exim writes, after an explanation, each failed address indented by two
// spaces, then its details indented further; the SMTP reply of the remote
// server is among them. The original follows a "------ This is a copy"
// line.
bool exim_text(const std::string& body, Dsn& d) {
    if (body.find("could not be delivered to one or more of its") == std::string::npos &&
        body.find("permanent error") == std::string::npos)
        return false;
    static const std::regex addr_line("^  ([^ \\t@<>]+@[^ \\t@<>:]+):?\\s*$");
    static const std::regex reply_rx(
        "^\\s*(?:SMTP error[^:]*:\\s*)?([245])[0-9]{2}[- ](?:([245]\\.[0-9]{1,3}\\.[0-9]{1,3})\\s)?(.*)$");
    std::string copy_marker = "------ This is a copy of the message";
    const size_t copy = body.find(copy_marker);
    const std::string head = body.substr(0, copy);
    size_t pos = 0;
    DsnRecipient* cur = nullptr;
    while (pos < head.size()) {
        size_t e = head.find('\n', pos);
        if (e == std::string::npos) e = head.size();
        std::string line = head.substr(pos, e - pos);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        pos = e + 1;
        std::smatch m;
        if (std::regex_match(line, m, addr_line)) {
            if (d.recipients.size() >= kMaxReportRecipients) {
                d.truncated = true;
                break;
            }
            DsnRecipient r;
            r.final_recipient = clean_address(m[1].str());
            r.action = "failed";
            if (r.final_recipient.empty()) continue;
            d.recipients.push_back(std::move(r));
            cur = &d.recipients.back();
            continue;
        }
        if (!cur || line.size() < 4 || (line[0] != ' ' && line[0] != '\t')) continue;
        if (!cur->status.empty()) continue;
        if (std::regex_match(line, m, reply_rx)) {
            cur->status = m[2].matched ? m[2].str() : m[1].str() + ".0.0";
            cur->diagnostic = one_line(trim(line), kMaxDiagnostic);
            if (cur->status[0] == '4') cur->action = "delayed";
        }
    }
    if (d.recipients.empty()) return false;
    for (auto& r : d.recipients)
        if (r.status.empty()) r.status = "5.0.0";
    if (copy != std::string::npos) {
        const size_t start = body.find('\n', copy);
        if (start != std::string::npos) {
            std::string orig = body.substr(start + 1);
            // Exim indents nothing but may leave one blank line first.
            while (!orig.empty() && (orig[0] == '\n' || orig[0] == '\r')) orig.erase(0, 1);
            d.original = headers_from_text(orig);
        }
    }
    d.format = "exim-text";
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
        if (!report) {
            if (!other_type && GMIME_IS_PART(top) && is_type(top, "text", "plain") &&
                exim_text(content_of(top), d)) {
                d.ok = true;
                return d;
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
                     (is_type(part, "message", "rfc822") || is_type(part, "text", "rfc822-headers") ||
                      is_type(part, "message", "global-headers")))
                original = part;
        }
        if (!status) {
            d.error = "the report has no message/delivery-status part";
            return d;
        }
        // message/delivery-status may come as a message part (GMime reads
        // its first group as headers) or a leaf: take its text either way.
        std::string body;
        if (GMIME_IS_MESSAGE_PART(status)) {
            GMimeMessage* m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(status));
            if (m) body = object_text(GMIME_OBJECT(m));
        } else {
            body = content_of(status);
        }
        const auto groups = groups_of(body);
        if (groups.size() < 2) {
            d.error = "the delivery-status part has no per-recipient fields";
            return d;
        }
        const Fields per_message = fields_of(groups.front());
        d.reporting_mta = untyped(field(per_message, "reporting-mta"));
        for (size_t i = 1; i < groups.size(); ++i) {
            if (d.recipients.size() >= kMaxReportRecipients) {
                d.truncated = true;
                break;
            }
            const Fields f = fields_of(groups[i]);
            DsnRecipient r;
            r.final_recipient = typed_address(field(f, "final-recipient"));
            r.original_recipient = typed_address(field(f, "original-recipient"));
            r.action = lower(trim(field(f, "action")));
            r.status = status_of(field(f, "status"));
            r.diagnostic = untyped(field(f, "diagnostic-code"));
            r.remote_mta = untyped(field(f, "remote-mta"));
            if (r.final_recipient.empty() && r.original_recipient.empty()) continue;
            static const char* const actions[] = {"failed", "delayed", "delivered", "relayed", "expanded"};
            if (std::find(std::begin(actions), std::end(actions), r.action) == std::end(actions)) continue;
            d.recipients.push_back(std::move(r));
        }
        if (d.recipients.empty()) {
            d.error = "no per-recipient group names an rfc822 recipient and a valid action";
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
            else if (!original &&
                     (is_type(part, "message", "rfc822") || is_type(part, "text", "rfc822-headers")))
                original = part;
        }
        if (!feedback) {
            a.error = "the report has no message/feedback-report part";
            return a;
        }
        std::string body;
        if (GMIME_IS_MESSAGE_PART(feedback)) {
            GMimeMessage* m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(feedback));
            if (m) body = object_text(GMIME_OBJECT(m));
        } else {
            body = content_of(feedback);
        }
        const auto groups = groups_of(body);
        if (groups.empty()) {
            a.error = "the feedback-report part is empty";
            return a;
        }
        const Fields f = fields_of(groups.front());
        a.feedback_type = lower(trim(field(f, "feedback-type")));
        if (a.feedback_type.empty()) {
            a.error = "the feedback report has no Feedback-Type";
            return a;
        }
        a.user_agent = one_line(field(f, "user-agent"), 200);
        a.version = one_line(field(f, "version"), 20);
        a.original_mail_from = clean_address(field(f, "original-mail-from"), true);
        for (const auto& [k, v] : f)
            if (k == "original-rcpt-to" && a.original_rcpts.size() < kMaxReportRecipients)
                if (auto addr = clean_address(v); !addr.empty()) a.original_rcpts.push_back(addr);
        if (!a.original_rcpts.empty()) a.original_rcpt_to = a.original_rcpts.front();
        a.reported_domain = lower(one_line(field(f, "reported-domain"), 253));
        a.source_ip = one_line(field(f, "source-ip"), 64);
        a.arrival_date = one_line(field(f, "arrival-date"), 100);
        if (original) a.original = original_of(original);
        a.ok = true;
    } catch (const std::exception& e) {
        a = Arf{};
        a.error = std::string("unreadable report: ") + e.what();
    }
    return a;
}

}  // namespace outpost
