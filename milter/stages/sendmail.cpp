// sendmail.cpp - address headers in the form Sendmail keeps.
#include "milter/stages/sendmail.h"

#include "milter/sendmail_headers.h"

namespace outpost::milter {

StageResult SendmailStage::end_of_headers(Message& m) {
    Transaction& t = m.txn;
    t.header_changes.clear();
    if (!m.session.sendmail || !t.domain) return StageResult::next();
    for (auto& h : t.headers) {
        if (!sendmail_address_header(h.name)) continue;
        SendmailAddressForm f = sendmail_address_form(h.value);
        if (!f.unqualified.empty())
            return StageResult::policy(
                "UNQUALIFIED_ADDRESS",
                h.name + ": \"" + f.unqualified +
                    "\" has no domain; Sendmail would add its own after the message is signed: "
                    "write the full address, e.g. " +
                    f.unqualified + "@example.com");
        size_t lead = 0;
        while (lead < h.value.size() && (h.value[lead] == ' ' || h.value[lead] == '\t')) ++lead;
        std::string_view rest(h.value);
        rest.remove_prefix(lead);
        while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t' || rest.back() == '\r' ||
                                 rest.back() == '\n'))
            rest.remove_suffix(1);
        if (rest == f.value) continue;
        int index = 0;  // 1-based among the headers of this name, as smfi_chgheader counts
        for (const auto& o : t.headers) {
            if (header_is(o.name, h.name.c_str())) ++index;
            if (&o == &h) break;
        }
        t.header_changes.push_back({h.name, index, f.value});
        h.value = (m.session.leading_space ? " " : "") + f.value;  // what the signer sees
    }
    return StageResult::next();
}

StageResult SendmailStage::end_of_message(Message& m) {
    for (const auto& c : m.txn.header_changes)
        if (!m.mta->change_header(c.name, c.index, c.value))
            return StageResult::internal("TEMPORARY_FAILURE", "could not rewrite the " + c.name + " header");
    return StageResult::next();
}

}  // namespace outpost::milter
