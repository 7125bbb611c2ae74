// pipeline.cpp - the stage order, and the one place exceptions stop.
#include "milter/pipeline.h"

#include "milter/stages/authorize.h"
#include "milter/stages/identify.h"
#include "milter/stages/line_length.h"
#include "milter/stages/return_path.h"
#include "milter/stages/sandbox.h"
#include "milter/stages/sendmail.h"
#include "milter/stages/sign.h"
#include "milter/stages/suppress.h"
#include "milter/stages/track.h"
#include "milter/stages/unsubscribe.h"
#include "milter/stages/warmup.h"
#include "base/error.h"
#include "base/log.h"

namespace outpost::milter {
namespace {

StageResult from_exception(const Message& m, const char* stage, const char* event) {
    const std::string qid = m.txn.queue_id.empty() ? "NOQUEUE" : m.txn.queue_id;
    try {
        throw;
    } catch (const Error& e) {
        log_error(qid + ": stage=" + stage + " event=" + event + " error=" + log_value(e.what()));
        const std::string token = e.token().empty() ? "TEMPORARY_FAILURE" : e.token();
        return StageResult::internal(token, "outpost cannot process this message now; try again later");
    } catch (const std::exception& e) {
        log_error(qid + ": stage=" + stage + " event=" + event + " error=" + log_value(e.what()));
    } catch (...) {
        log_error(qid + ": stage=" + stage + " event=" + event + " error=unknown");
    }
    return StageResult::internal("INTERNAL_ERROR",
                                 "outpost cannot process this message now; try again later");
}

}  // namespace

Pipeline::Pipeline() {
    // DESIGN.md, "The milter pipeline". sign stays last, so it covers
    // every change made before it.
    stages_.push_back(std::make_unique<IdentifyStage>());
    stages_.push_back(std::make_unique<AuthorizeStage>());
    // Before warmup: mail refused for its lines reserves nothing.
    stages_.push_back(std::make_unique<LineLengthStage>());
    stages_.push_back(std::make_unique<WarmupStage>());
    stages_.push_back(std::make_unique<SuppressStage>());
    stages_.push_back(std::make_unique<SandboxStage>());
    stages_.push_back(std::make_unique<UnsubscribeStage>());
    stages_.push_back(std::make_unique<TrackStage>());
    stages_.push_back(std::make_unique<ReturnPathStage>());
    stages_.push_back(std::make_unique<SendmailStage>());
    stages_.push_back(std::make_unique<SignStage>());
}

StageResult Pipeline::end_of_headers(Message& m) const {
    const char* current = "pipeline";
    try {
        if (!m.txn.deferred.is_next()) return m.txn.deferred;
        lmdb::ReadTxn snapshot = m.rt.store->read();
        m.read = &snapshot;
        StageResult r;
        for (const auto& s : stages_) {
            current = s->name();
            r = s->end_of_headers(m);
            if (!r.is_next()) break;
        }
        m.read = nullptr;
        return r;
    } catch (...) {
        m.read = nullptr;
        return from_exception(m, current, "eoh");
    }
}

void Pipeline::body(Message& m, const unsigned char* data, size_t len) const {
    if (!m.txn.deferred.is_next()) return;
    const char* current = "pipeline";
    try {
        for (const auto& s : stages_) {
            current = s->name();
            s->body(m, data, len);
        }
    } catch (...) {
        m.txn.deferred = from_exception(m, current, "body");
    }
}

StageResult Pipeline::end_of_message(Message& m) const {
    if (!m.txn.deferred.is_next()) return m.txn.deferred;
    size_t done = 0;
    StageResult r;
    try {
        for (; done < stages_.size(); ++done) {
            r = stages_[done]->end_of_message(m);
            if (!r.is_next()) break;
        }
    } catch (...) {
        r = from_exception(m, stages_[done]->name(), "eom");
    }
    if (!r.is_next()) {
        // Undo what the stages before the failing one committed; the failing
        // stage undoes its own partial work.
        const size_t last = std::min(done, stages_.size() - 1);
        for (size_t i = last + 1; i-- > 0;) stages_[i]->undo(m);
    }
    return r;
}

const Pipeline& pipeline() {
    static const Pipeline p;
    return p;
}

}  // namespace outpost::milter
