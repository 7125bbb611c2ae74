// unsubscribe.cpp - List-Unsubscribe headers with signed tokens.
#include "milter/stages/unsubscribe.h"

#include <algorithm>

#include "milter/stages/suppress.h"
#include "store/error.h"

namespace outpost::milter {
namespace {

constexpr size_t kMaxLine = 998;

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

std::vector<Header> unsubscribe_headers(const Config& cfg, const TokenKeys& keys, const std::string& domain,
                                        const std::vector<std::string>& recipients,
                                        const std::string& queue_id, int64_t now) {
    TokenPayload p;
    p.domain = domain;
    p.message = queue_id;
    p.issued_at = now;
    std::string https;
    if (recipients.size() == 1) {
        p.kind = "u";
        p.recipient = recipient_address(recipients.front());
        if (p.recipient.empty()) p.kind = "m";
    } else {
        p.kind = "m";
    }
    const std::string token = keys.issue(p);
    if (p.kind == "u") https = "<https://" + cfg.tracking.host + "/u/" + token + ">";
    const std::string mailto = "<mailto:" + mailto_address(cfg) + "?subject=unsubscribe%20" + token + ">";

    const size_t room = kMaxLine - sizeof("List-Unsubscribe: ") + 1;
    std::string value;
    if (!https.empty())
        value = https.size() + 2 + mailto.size() <= room ? https + ", " + mailto : https;
    else
        value = mailto;
    if (value.size() > room || !clean(value))
        throw Error(
            Exit::environment, "INTERNAL_ERROR",
            "List-Unsubscribe value would be invalid; check tracking.host and milter.unsubscribe_mailto");
    std::vector<Header> out;
    out.push_back({"List-Unsubscribe", value});
    if (!https.empty()) out.push_back({"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"});
    return out;
}

StageResult UnsubscribeStage::end_of_headers(Message& m) {
    Transaction& t = m.txn;
    if (!t.domain || !t.domain->unsubscribe) return StageResult::next();
    bool has_list = false, has_post = false;
    for (const auto& h : t.headers) {
        if (header_is(h.name, "List-Unsubscribe")) has_list = true;
        if (header_is(h.name, "List-Unsubscribe-Post")) has_post = true;
    }
    if (has_list) return StageResult::next();
    std::vector<std::string> delivered;
    for (const auto& r : t.rcpts)
        if (std::find(t.suppressed.begin(), t.suppressed.end(), r) == t.suppressed.end())
            delivered.push_back(r);
    for (auto& h :
         unsubscribe_headers(m.config(), *m.rt.tokens, t.domain->name, delivered, t.queue_id, m.now)) {
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
