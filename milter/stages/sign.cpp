// sign.cpp - libopendkim over the message as delivered.
#include "milter/stages/sign.h"

#include "milter/log.h"
#include "milter/stages/identify.h"
#include "store/error.h"

namespace outpost::milter {

StageResult SignStage::end_of_headers(Message& m) {
    Transaction& t = m.txn;
    t.signers.clear();
    if (!t.domain) return StageResult::next();  // nothing authorized: nothing to sign
    const Domain& d = *t.domain;
    std::vector<const Selector*> selectors = d.signing_selectors();
    if (selectors.empty() && t.sandbox)
        for (const auto& s : d.selectors)
            if (s.state == SelectorState::pending) selectors.push_back(&s);
    if (selectors.empty())
        return StageResult::internal(
            "DKIM_KEY_UNAVAILABLE",
            d.name + " has no active DKIM selector; run outpostctl domain verify " + d.name);
    for (const Selector* sel : selectors) {
        std::shared_ptr<const PrivateKey> key;
        try {
            key = m.rt.keys->get(d.name, *sel);
        } catch (const Error& e) {
            log_error((t.queue_id.empty() ? std::string("NOQUEUE") : t.queue_id) + ": stage=sign domain=" +
                      d.name + " selector=" + sel->name + " error=" + log_value(e.what()));
            return StageResult::internal("DKIM_KEY_UNAVAILABLE",
                                         "the DKIM key of " + d.name + " cannot be read; try again later");
        }
        auto s =
            std::make_unique<DkimSigner>(*m.rt.dkim, t.queue_id, key->pem, d.name, sel->name, sel->algorithm);
        for (const auto& h : t.headers)
            if (!header_is(h.name, kKeyHeader)) s->header(h.name, h.value);
        for (const auto& h : t.added_headers) s->header(h.name, " " + h.value);
        s->end_of_headers();
        t.signers.push_back(std::move(s));
    }
    return StageResult::next();
}

void SignStage::body(Message& m, const unsigned char* data, size_t len) {
    for (auto& s : m.txn.signers) s->body(data, len);
}

StageResult SignStage::end_of_message(Message& m) {
    Transaction& t = m.txn;
    std::vector<std::string> sigs;
    for (auto& s : t.signers) sigs.push_back(s->finish());
    // Insert the last first, so the first selector's signature ends on top.
    for (size_t i = sigs.size(); i-- > 0;) {
        if (!m.mta->insert_header(0, "DKIM-Signature", sigs[i]))
            return StageResult::internal("TEMPORARY_FAILURE", "could not add the DKIM-Signature header");
    }
    for (auto& s : t.signers) t.signed_with.push_back(s->selector());
    t.signers.clear();
    return StageResult::next();
}

}  // namespace outpost::milter
