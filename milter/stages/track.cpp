// track.cpp - buffer, rewrite, replace the body.
#include "milter/stages/track.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string_view>

#include "milter/latency.h"
#include "milter/stages/identify.h"
#include "milter/stages/suppress.h"
#include "milter/track_rewrite.h"
#include "base/log.h"
#include "store/stats.h"
#include "base/text.h"

namespace outpost::milter {
namespace {

std::string qid(const Transaction& t) {
    return t.queue_id.empty() ? "NOQUEUE" : t.queue_id;
}

// The media type of the top-level Content-Type, lower case ("" if none).
std::string top_media_type(const std::vector<Header>& headers) {
    for (const auto& h : headers) {
        if (!header_is(h.name, "Content-Type")) continue;
        std::string type;
        for (char c : h.value) {
            if (c == ';') break;
            if (!std::isspace(static_cast<unsigned char>(c)))
                type += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        return type;
    }
    return "";
}

// The header section as delivered, CRLF line ends, for the MIME parser.
std::string header_text(const Session& s, const Transaction& t) {
    std::string out;
    out.reserve(t.header_bytes + 4 * t.headers.size());
    for (const auto& h : t.headers) {
        if (header_is(h.name, kKeyHeader)) continue;
        out += h.name;
        out += ':';
        if (!s.leading_space) out += ' ';
        for (size_t i = 0; i < h.value.size(); ++i) {
            if (h.value[i] == '\n' && (i == 0 || h.value[i - 1] != '\r')) out += '\r';
            out += h.value[i];
        }
        out += "\r\n";
    }
    return out;
}

// memmem: glibc's search is far faster than std::string_view::find over
// a large body whose bytes often match the needle's first one.
size_t find_bytes(std::string_view hay, std::string_view needle, size_t from) {
    if (from > hay.size()) return std::string_view::npos;
    const void* at = ::memmem(hay.data() + from, hay.size() - from, needle.data(), needle.size());
    return at ? static_cast<size_t>(static_cast<const char*>(at) - hay.data()) : std::string_view::npos;
}

bool encoded(std::string_view value) {
    const std::string v = lower(value);
    return v.find("quoted-printable") != std::string::npos || v.find("base64") != std::string::npos;
}

// Below a multipart: whether a text part is quoted-printable or base64.
// Part header blocks are found through their Content-Transfer-Encoding
// field (memmem, at memory speed over a large body; the field name as
// RFC 2045 writes it, or in lower or upper case), and the block around it
// must say Content-Type: text/... (an attachment cannot hold the
// placeholder where it is replaced).
bool encoded_text_part(std::string_view body) {
    for (const char* name : {"Content-Transfer-Encoding:", "content-transfer-encoding:", "CONTENT-TRANSFER-ENCODING:",
                             "Content-transfer-encoding:"}) {
        const std::string_view n(name);
        for (size_t at = find_bytes(body, n, 0); at != std::string_view::npos; at = find_bytes(body, n, at + n.size())) {
            const size_t eol = body.find('\n', at);
            if (!encoded(body.substr(at + n.size(), eol == std::string_view::npos ? eol : eol - at - n.size())))
                continue;
            // The part's header block: from its boundary line ("--...")
            // to the empty line after it.
            size_t from = body.rfind("\n--", at);
            from = from == std::string_view::npos ? 0 : from;
            size_t to = body.find("\r\n\r\n", at);
            to = to == std::string_view::npos ? body.size() : to;
            // Content-Type: text/..., with or without space after the colon.
            const std::string block = lower(body.substr(from, to - from));
            for (size_t c = block.find("content-type:"); c != std::string::npos;
                 c = block.find("content-type:", c + 1)) {
                const size_t v = block.find_first_not_of(" \t", c + 13);
                if (v != std::string::npos && block.compare(v, 5, "text/") == 0) return true;
            }
        }
    }
    return false;
}

// Whether the unsubscribe placeholder may be in the message: it is there
// as is, or a text part is encoded (quoted-printable can split it with a
// soft line break, base64 hides it), so only the MIME parser can tell.
bool may_hold_placeholder(const Transaction& t) {
    if (find_bytes(t.body, kUnsubscribePlaceholder, 0) != std::string_view::npos) return true;
    for (const auto& h : t.headers)
        if (header_is(h.name, "Content-Transfer-Encoding") && encoded(h.value)) return true;
    return top_media_type(t.headers).rfind("multipart/", 0) == 0 && encoded_text_part(t.body);
}

void count(Message& m, const char* metric) {
    try {
        m.rt.store->update_counters([&](lmdb::WriteTxn& w) {
            m.rt.store->add_stat(w, m.txn.domain->name, utc_day(m.now), metric, 1);
            return true;
        });
    } catch (const std::exception& e) {
        counters_errors().fetch_add(1, std::memory_order_relaxed);
        // Stats are soft state: a message is never refused for them.
        log_warning(qid(m.txn) + ": stage=track stat=" + metric + " error=" + log_value(e.what()));
    }
}

}  // namespace

StageResult TrackStage::end_of_headers(Message& m) {
    Transaction& t = m.txn;
    t.buffering = false;
    if (!t.domain) return StageResult::next();
    const Domain& d = *t.domain;
    if (!d.track_opens && !d.track_clicks && t.unsubscribe_url.empty()) return StageResult::next();
    const std::string type = top_media_type(t.headers);
    if (!type.empty() && type.rfind("text/", 0) != 0 && type.rfind("multipart/", 0) != 0)
        return StageResult::next();
    // The unsubscribe stage has picked the host, unless the domain has
    // unsubscribe off.
    if (t.tracking_host.empty())
        t.tracking_host = tracking_host(d, m.config().records.tracking, m.config().tracking.host);
    t.buffering = true;
    // Untracked mail is held only to replace the unsubscribe placeholder,
    // which sits in a newsletter's text, not in a large attachment: hold
    // at most kPlaceholderOnlyBytes of it (memory and copies stay small).
    const auto max = static_cast<size_t>(m.config().tracking.max_bytes);
    t.placeholder_only = !d.track_opens && !d.track_clicks && !d.unsubscribe_footer;
    t.buffer_limit = t.placeholder_only ? std::min(max, kPlaceholderOnlyBytes) : max;
    return StageResult::next();
}

void TrackStage::body(Message& m, const unsigned char* data, size_t len) {
    Transaction& t = m.txn;
    if (!t.buffering) return;
    if (t.body.size() + len > t.buffer_limit) {
        t.buffering = false;
        if (t.placeholder_only)
            t.placeholder_unchecked = true;
        else
            t.too_large = true;
        std::string().swap(t.body);
        return;
    }
    t.body.append(reinterpret_cast<const char*>(data), len);
}

StageResult TrackStage::end_of_message(Message& m) {
    Transaction& t = m.txn;
    if (t.too_large) {
        t.tracked = "too-large";
        log_info(qid(t) + ": stage=track domain=" + t.domain->name +
                 " untracked=too-large max_bytes=" + std::to_string(m.config().tracking.max_bytes));
        count(m, stats::kUntrackedTooLarge);
        return StageResult::next();
    }
    if (t.placeholder_unchecked) {
        log_info(qid(t) + ": stage=track domain=" + t.domain->name + " placeholder=unchecked size_over=" +
                 std::to_string(kPlaceholderOnlyBytes));
        return StageResult::next();
    }
    if (!t.buffering) return StageResult::next();
    t.buffering = false;
    if (!m.mta->can_replace_body()) {
        t.tracked = "mta-refuses-body-change";
        return StageResult::next();
    }
    const Domain& d = *t.domain;
    if (t.placeholder_only && !may_hold_placeholder(t)) {
        // Only the unsubscribe placeholder could change the body, and it
        // is not there: no MIME parse, the body goes as it came.
        std::string().swap(t.body);
        return StageResult::next();
    }
    const TokenKeys& keys = *m.rt.tokens;
    TokenPayload base;
    base.domain = d.name;
    base.message = t.queue_id;
    base.issued_at = m.now;
    if (t.delivered() == 1)
        for (const auto& r : t.rcpts)
            if (std::find(t.suppressed.begin(), t.suppressed.end(), r) == t.suppressed.end())
                if (auto a = recipient_address(r); !a.empty()) base.recipients.push_back(recipient_digest(a));

    TrackOptions o;
    o.clicks = d.track_clicks;
    o.opens = d.track_opens;
    o.footer = d.unsubscribe_footer;
    o.unsubscribe_url = t.unsubscribe_url;
    const std::string prefix = "https://" + t.tracking_host;
    o.click_url = [&](const std::string& url) -> std::string {
        if (url.size() > 2048) return "";
        TokenPayload p = base;
        p.kind = TokenKind::click;
        p.url = url;
        return prefix + "/c/" + keys.issue(p);
    };
    if (d.track_opens) {
        TokenPayload p = base;
        p.kind = TokenKind::open;
        o.pixel_url = prefix + "/o/" + keys.issue(p);
    }
    TrackResult r = track_message(header_text(m.session, t), t.body, o);
    std::string().swap(t.body);
    std::string what;
    for (const auto& n : r.notes) what += (what.empty() ? "" : "; ") + n;
    if (!r.changed) {
        if (!what.empty())
            log_info(qid(t) + ": stage=track domain=" + d.name + " unchanged=" + log_value(what));
        return StageResult::next();
    }
    if (!m.mta->replace_body(r.body))
        return StageResult::internal("TEMPORARY_FAILURE", "could not replace the message body");
    t.new_body = std::move(r.body);
    t.body_replaced = true;
    t.tracked = "links:" + std::to_string(r.links) + (r.pixel ? ",pixel" : "") +
                (r.placeholders ? ",placeholder:" + std::to_string(r.placeholders) : "") +
                (r.footer ? ",footer" : "");
    if (!what.empty()) log_info(qid(t) + ": stage=track domain=" + d.name + " notes=" + log_value(what));
    count(m, stats::kTracked);
    return StageResult::next();
}

}  // namespace outpost::milter
