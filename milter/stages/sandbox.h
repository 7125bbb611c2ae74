// sandbox.h - mail from sandbox keys never reaches its recipients.
//
// milter.sandbox_mode redirect: every recipient is replaced by
// milter.sandbox_recipient (smfi_delrcpt each, smfi_addrcpt once);
// quarantine: the message is held in the MTA's quarantine (Postfix: the hold
// queue) with smfi_quarantine. The message is otherwise processed (and
// signed) as real mail would be, so a developer sees what would be sent.
#pragma once

#include "milter/stage.h"

namespace outpost::milter {

class SandboxStage : public Stage {
public:
    const char* name() const override { return "sandbox"; }
    StageResult end_of_message(Message& m) override;
};

}  // namespace outpost::milter
