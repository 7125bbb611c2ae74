// return_path.cpp - the VERP envelope sender.
#include "milter/stages/return_path.h"

#include <algorithm>

#include "milter/stages/suppress.h"

namespace outpost::milter {

bool mailfrom_verified(const Domain& d) {
    for (const auto& c : d.checks)
        if (c.name == "mailfrom" && c.status == CheckStatus::ok) return true;
    return false;
}

std::string verp_address(const Config& cfg, const TokenKeys& keys, const std::string& domain,
                         const std::string& sender, const std::vector<std::string>& recipients,
                         const std::string& queue_id, int64_t now) {
    TokenPayload p;
    p.kind = TokenKind::bounce;
    p.domain = domain;
    p.message = queue_id;
    p.sender = sender;
    p.issued_at = now;
    std::vector<std::string> addresses;
    for (const auto& r : recipients)
        if (auto a = recipient_address(r); !a.empty()) addresses.push_back(std::move(a));
    if (addresses.size() == 1)
        p.recipient = addresses.front();
    else if (addresses.size() <= kMaxVerpRecipients)
        for (const auto& a : addresses) p.recipients.push_back(recipient_digest(a));
    return cfg.relay.verp_prefix + "+" + keys.issue(p) + "@" + cfg.records.mailfrom + "." + domain;
}

StageResult ReturnPathStage::end_of_message(Message& m) {
    Transaction& t = m.txn;
    if (!t.domain || t.sandbox || !mailfrom_verified(*t.domain)) return StageResult::next();
    std::string sender = t.mail_from;
    if (sender.size() >= 2 && sender.front() == '<' && sender.back() == '>')
        sender = sender.substr(1, sender.size() - 2);
    if (sender.empty()) return StageResult::next();  // the null sender stays null
    if (!m.mta->can_change_from()) {
        t.return_path = "mta-refuses-chgfrom";
        return StageResult::next();
    }
    std::vector<std::string> delivered;
    for (const auto& r : t.rcpts)
        if (std::find(t.suppressed.begin(), t.suppressed.end(), r) == t.suppressed.end())
            delivered.push_back(r);
    const std::string verp =
        verp_address(m.config(), *m.rt.tokens, t.domain->name, sender, delivered, t.queue_id, m.now);
    if (!m.mta->change_from(verp))
        return StageResult::internal("TEMPORARY_FAILURE", "could not set the VERP return path");
    t.return_path = "verp";
    return StageResult::next();
}

}  // namespace outpost::milter
