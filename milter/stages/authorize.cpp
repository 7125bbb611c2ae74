// authorize.cpp - From domain against the store and the key.
#include "milter/stages/authorize.h"

#include <algorithm>

#include "milter/from_header.h"
#include "milter/stages/identify.h"

namespace outpost::milter {

StageResult AuthorizeStage::end_of_headers(Message& m) {
    Transaction& t = m.txn;
    std::vector<std::string> froms;
    for (const auto& h : t.headers)
        if (header_is(h.name, "From")) froms.push_back(h.value);
    FromResult from = parse_from(froms);
    if (!from.ok)
        return StageResult::policy("FROM_INVALID",
                                   from.error +
                                       "; send exactly one From header holding one address at "
                                       "your sending domain, e.g. From: Name <you@example.com>");
    t.from_address = from.address;
    const std::string& name = from.domain;

    auto d = m.rt.store->domain(*m.read, name);
    // Mail outpost does not manage: no key, and a From domain that is not
    // one of its domains. A managed domain is never passed: it is enforced
    // (and signed) whoever sends it.
    if ((!d || d->deleted) && !t.key && m.config().milter.unmanaged == "pass")
        return StageResult::pass("unmanaged");
    if (t.auth_required) return auth_required();
    if (!d || d->deleted)
        return StageResult::policy(
            "DOMAIN_NOT_FOUND",
            name + " is not a sending domain of this relay; ask its administrator to add it");
    if (t.key) {
        const ApiKey& k = *t.key;
        if (!k.allowed_domains.empty() &&
            std::find(k.allowed_domains.begin(), k.allowed_domains.end(), name) == k.allowed_domains.end())
            return StageResult::policy(
                "DOMAIN_NOT_ALLOWED_FOR_KEY",
                "key " + k.name + " may not send as " + name + "; send with a key allowed for it");
        if (!k.tenant.empty() && !d->shared && d->tenant != k.tenant)
            return StageResult::policy("DOMAIN_TENANT_MISMATCH",
                                       name + " does not belong to the tenant of key " + k.name +
                                           "; send with one of that tenant's keys");
        t.sandbox = k.sandbox;
    }
    if (!d->active)
        return StageResult::policy("DOMAIN_INACTIVE", name + " has been deactivated by the administrator");
    if (d->status == DomainStatus::suspended)
        return StageResult::policy("DOMAIN_SUSPENDED",
                                   name + " is suspended (" +
                                       (d->suspended_reason.empty() ? "health" : d->suspended_reason) +
                                       "); ask the relay's administrator to reinstate it");
    if ((d->status == DomainStatus::pending || d->status == DomainStatus::failed) && !t.sandbox) {
        const std::string text = name + " has not passed DNS verification yet (" + to_string(d->status) +
                                 "); publish its records and run outpostctl domain verify";
        if (m.config().milter.pending_action == "tempfail")
            return StageResult::refuse("451", "4.7.1", "DOMAIN_PENDING_VERIFICATION", text);
        return StageResult::policy("DOMAIN_PENDING_VERIFICATION", text);
    }
    t.domain = std::move(d);
    return StageResult::next();
}

}  // namespace outpost::milter
