// stage.h - one step of the message pipeline.
//
// A stage answers the events it cares about and returns a StageResult;
// `next` passes the message on. At end of headers stages decide (rejected
// mail never sends its body); body chunks stream through them; at end of
// message they apply their changes through MtaActions. If a stage fails at
// end of message, the stages before it are asked to undo() what they
// committed outside the message (the warmup reservation), in reverse order.
//
// Stages hold no per-message state themselves: it lives in the Transaction,
// so one Pipeline serves every thread.
#pragma once

#include "milter/context.h"
#include "milter/reply.h"

namespace outpost::milter {

class Stage {
public:
    virtual ~Stage() = default;
    virtual const char* name() const = 0;
    virtual StageResult end_of_headers(Message&) { return StageResult::next(); }
    virtual void body(Message&, const unsigned char*, size_t) {}
    virtual StageResult end_of_message(Message&) { return StageResult::next(); }
    virtual void undo(Message&) noexcept {}
};

}  // namespace outpost::milter
