// suppress.cpp - per-domain suppression list.
#include "milter/stages/suppress.h"

#include "dns/domain_name.h"

namespace outpost::milter {

std::string recipient_address(const std::string& rcpt) {
    std::string a = rcpt;
    if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
    try {
        return normalize_address(a);
    } catch (const std::exception&) {
        return "";
    }
}

StageResult SuppressStage::end_of_headers(Message& m) {
    Transaction& t = m.txn;
    t.suppressed.clear();
    if (t.sandbox || !t.domain) return StageResult::next();
    for (const auto& rcpt : t.rcpts) {
        const std::string addr = recipient_address(rcpt);
        if (!addr.empty() && m.rt.store->suppressed(*m.read, t.domain->name, addr))
            t.suppressed.push_back(rcpt);
    }
    if (!t.rcpts.empty() && t.delivered() == 0)
        return StageResult::policy("ALL_RECIPIENTS_SUPPRESSED",
                                   "every recipient has unsubscribed, bounced or complained for " +
                                       t.domain->name + "; nothing was sent");
    return StageResult::next();
}

StageResult SuppressStage::end_of_message(Message& m) {
    for (const auto& rcpt : m.txn.suppressed)
        if (!m.mta->delete_rcpt(rcpt))
            return StageResult::internal("TEMPORARY_FAILURE", "could not remove a suppressed recipient");
    return StageResult::next();
}

}  // namespace outpost::milter
