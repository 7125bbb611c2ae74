// sandbox.cpp - divert sandbox mail.
#include "milter/stages/sandbox.h"

namespace outpost::milter {

StageResult SandboxStage::end_of_message(Message& m) {
    Transaction& t = m.txn;
    if (!t.sandbox) return StageResult::next();
    if (m.config().milter.sandbox_mode == "quarantine") {
        if (!m.mta->quarantine("outpost sandbox key " + (t.key ? t.key->name : std::string("?"))))
            return StageResult::internal("TEMPORARY_FAILURE", "could not quarantine sandbox mail");
        return StageResult::next();
    }
    for (const auto& rcpt : t.rcpts)
        if (!m.mta->delete_rcpt(rcpt))
            return StageResult::internal("TEMPORARY_FAILURE", "could not divert sandbox mail");
    if (!m.mta->add_rcpt("<" + m.config().milter.sandbox_recipient + ">"))
        return StageResult::internal("TEMPORARY_FAILURE", "could not divert sandbox mail");
    return StageResult::next();
}

}  // namespace outpost::milter
