// sign.cpp - DKIM signatures over the message as delivered.
#include "milter/stages/sign.h"

#include "milter/stages/identify.h"
#include "base/error.h"
#include "base/log.h"

namespace outpost::milter {
namespace {

// A signer that has seen every header as it will be delivered.
std::unique_ptr<DkimSigner> new_signer(const Message& m, const Transaction::SignKey& k) {
    const Transaction& t = m.txn;
    auto s = std::make_unique<DkimSigner>(k.key->key, t.domain->name, k.selector, std::time(nullptr));
    for (const auto& h : t.headers)
        if (!header_is(h.name, kKeyHeader)) s->header(h.name, h.value);
    for (const auto& h : t.added_headers) s->header(h.name, " " + h.value);
    s->end_of_headers();
    return s;
}

}  // namespace

StageResult SignStage::end_of_headers(Message& m) {
    Transaction& t = m.txn;
    t.signers.clear();
    t.sign_keys.clear();
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
        Transaction::SignKey k{sel->name, sel->algorithm, nullptr};
        try {
            k.key = m.rt.keys->get(d.name, *sel);
        } catch (const Error& e) {
            log_error((t.queue_id.empty() ? std::string("NOQUEUE") : t.queue_id) + ": stage=sign domain=" +
                      d.name + " selector=" + sel->name + " error=" + log_value(e.what()));
            return StageResult::internal("DKIM_KEY_UNAVAILABLE",
                                         "the DKIM key of " + d.name + " cannot be read; try again later");
        }
        t.signers.push_back(new_signer(m, k));
        t.sign_keys.push_back(std::move(k));
    }
    return StageResult::next();
}

void SignStage::body(Message& m, const unsigned char* data, size_t len) {
    for (auto& s : m.txn.signers) s->body(data, len);
}

StageResult SignStage::end_of_message(Message& m) {
    Transaction& t = m.txn;
    if (t.body_replaced) {
        // The track stage replaced the body: what streamed through the
        // signers is not what will be delivered. Sign the new body (the
        // headers are unchanged).
        t.signers.clear();
        for (const auto& k : t.sign_keys) {
            t.signers.push_back(new_signer(m, k));
            t.signers.back()->body(reinterpret_cast<const unsigned char*>(t.new_body.data()),
                                   t.new_body.size());
        }
    }
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
