// unsubscribe.cpp - List-Unsubscribe headers with private tokens.
#include "milter/stages/unsubscribe.h"

#include <algorithm>

#include "milter/stages/suppress.h"
#include "base/error.h"

namespace outpost::milter {
namespace {

bool clean(const std::string& v) {
    for (unsigned char c : v)
        if (c < 0x20 || c == 0x7f) return false;
    return true;
}

std::string mailto_address(const Config& cfg) {
    const std::string& a = cfg.milter.unsubscribe_mailto;
    return a.find('@') != std::string::npos ? a : a + "@" + cfg.relay.hostname;
}

}  // namespace

UnsubscribeLinks unsubscribe_links(const Config& cfg, const TokenKeys& keys, const std::string& domain,
                                   const std::string& host, const std::vector<std::string>& recipients,
                                   const std::string& queue_id, int64_t now) {
    UnsubscribeLinks out;
    TokenPayload p;
    p.domain = domain;
    p.message = queue_id;
    p.issued_at = now;
    std::vector<std::string> addresses;
    for (const auto& r : recipients)
        if (auto a = recipient_address(r); !a.empty()) addresses.push_back(std::move(a));
    if (addresses.empty() || addresses.size() > TokenKeys::kMaxRecipients) return out;
    if (addresses.size() == 1) {
        p.kind = TokenKind::unsubscribe;
        p.recipient = addresses.front();
        out.https = "https://" + host + "/u/" + keys.issue(p);
    }
    // The mailto token names the recipients it was issued for, so mail that
    // copies it cannot unsubscribe anybody else (ingest unsubscribe checks).
    p.kind = TokenKind::mailto;
    for (const auto& a : addresses) p.recipients.push_back(recipient_digest(a));
    out.mailto = "mailto:" + mailto_address(cfg) + "?subject=unsubscribe%20" + keys.issue(p);
    return out;
}

std::vector<Header> unsubscribe_headers(const UnsubscribeLinks& links) {
    std::vector<Header> out;
    if (links.mailto.empty()) return out;
    // Folded at the comma (LF + space: the form milter header values take),
    // so each URL sits on a line of its own, and every line stays within
    // kMaxHeaderLine: an MTA folds a longer one after signing (Sendmail's
    // esmtp mailer at 990 octets, Postfix at 998), which breaks the
    // signature and the link. A one-click URL too long for its line (a very
    // long recipient address) is left out, with its List-Unsubscribe-Post;
    // the mailto URI carries no address and stays short.
    const size_t name = sizeof("List-Unsubscribe: ") - 1;
    const std::string mailto = "<" + links.mailto + ">";
    if (!clean(links.https) || !clean(mailto))
        throw Error(
            Exit::environment, "INTERNAL_ERROR",
            "List-Unsubscribe value would be invalid; check tracking.host and milter.unsubscribe_mailto");
    const bool https = !links.https.empty() && name + links.https.size() + 3 <= kMaxHeaderLine &&
                       1 + mailto.size() <= kMaxHeaderLine;
    if (!https && name + mailto.size() > kMaxHeaderLine) return out;
    out.push_back({"List-Unsubscribe", https ? "<" + links.https + ">,\n " + mailto : mailto});
    if (https) out.push_back({"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"});
    return out;
}

StageResult UnsubscribeStage::end_of_headers(Message& m) {
    Transaction& t = m.txn;
    if (!t.domain || !t.domain->unsubscribe) return StageResult::next();
    std::vector<std::string> delivered;
    for (const auto& r : t.rcpts)
        if (std::find(t.suppressed.begin(), t.suppressed.end(), r) == t.suppressed.end())
            delivered.push_back(r);
    t.tracking_host = tracking_host(*t.domain, m.config().records.tracking, m.config().tracking.host);
    const UnsubscribeLinks links = unsubscribe_links(m.config(), *m.rt.tokens, t.domain->name,
                                                     t.tracking_host, delivered, t.queue_id, m.now);
    // The placeholder in the body gets the one-click page when there is one
    // recipient, the mailto address otherwise.
    t.unsubscribe_url = links.https.empty() ? links.mailto : links.https;
    bool has_list = false, has_post = false;
    for (const auto& h : t.headers) {
        if (header_is(h.name, "List-Unsubscribe")) has_list = true;
        if (header_is(h.name, "List-Unsubscribe-Post")) has_post = true;
    }
    if (has_list) return StageResult::next();
    for (auto& h : unsubscribe_headers(links)) {
        if (has_post && header_is(h.name, "List-Unsubscribe-Post")) continue;
        t.added_headers.push_back(std::move(h));
    }
    return StageResult::next();
}

StageResult UnsubscribeStage::end_of_message(Message& m) {
    for (const auto& h : m.txn.added_headers)
        if (!m.mta->add_header(h.name, h.value))
            return StageResult::internal("TEMPORARY_FAILURE", "could not add " + h.name);
    return StageResult::next();
}

}  // namespace outpost::milter
