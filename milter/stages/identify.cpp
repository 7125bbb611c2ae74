// identify.cpp - SASL login, key header, client network.
#include "milter/stages/identify.h"

#include "store/secrets.h"
#include "base/text.h"

namespace outpost::milter {

StageResult IdentifyStage::end_of_headers(Message& m) {
    Transaction& t = m.txn;
    const Store& store = *m.rt.store;
    std::vector<std::string> secrets;
    for (const auto& h : t.headers)
        if (header_is(h.name, kKeyHeader)) {
            if (t.key_header_name.empty()) t.key_header_name = h.name;
            secrets.push_back(trim(h.value));
        }
    t.key_headers = secrets.size();
    // The secrets are needed only to find the key: wipe them (and the
    // header values they came from; the headers are removed by name at end
    // of message) however this stage ends.
    struct WipeSecrets {
        std::vector<std::string>& copies;
        Transaction& t;
        ~WipeSecrets() {
            if (copies.empty()) return;  // no key header: nothing to wipe
            for (auto& s : copies) wipe(s);
            for (auto& h : t.headers)
                if (header_is(h.name, kKeyHeader)) wipe(h.value);
        }
    } wipe_secrets{secrets, t};

    if (!t.sasl_login.empty()) {
        if (auto k = store.key_by_sasl(*m.read, t.sasl_login)) {
            t.key = std::move(k);
            t.identity = "sasl";
            return StageResult::next();
        }
    }
    if (!secrets.empty()) {
        if (secrets.size() > 1)
            return StageResult::policy("AUTH_REQUIRED",
                                       "the message has several X-Outpost-Key headers; send one");
        const std::string hash = hash_secret(secrets.front());
        auto k = store.key_by_hash(*m.read, hash);
        if (!k || !constant_time_equal(k->secret_hash, hash))
            return StageResult::policy("AUTH_REQUIRED", "the X-Outpost-Key header does not hold a valid key");
        t.key = std::move(k);
        t.identity = "header";
        return StageResult::next();
    }
    if (auto k = m.rt.networks->match(store, *m.read, m.session.client_addr)) {
        t.key = std::move(k);
        t.identity = "cidr";
        return StageResult::next();
    }
    t.identity = "none";
    if (m.config().milter.unauthenticated == "allow") return StageResult::next();
    if (m.config().milter.unmanaged == "pass") {
        t.auth_required = true;  // decided by authorize, once the From domain is known
        return StageResult::next();
    }
    return auth_required();
}

StageResult auth_required() {
    return StageResult::policy("AUTH_REQUIRED",
                               "authenticate with SMTP AUTH, an X-Outpost-Key header or a registered "
                               "client network to send through this relay");
}

StageResult IdentifyStage::end_of_message(Message& m) {
    // Highest index first, so the remaining indices stay valid.
    for (size_t i = m.txn.key_headers; i > 0; --i)
        if (!m.mta->delete_header(m.txn.key_header_name, static_cast<int>(i)))
            return StageResult::internal("TEMPORARY_FAILURE", "could not remove the X-Outpost-Key header");
    return StageResult::next();
}

}  // namespace outpost::milter
