// pipeline.h - the chain of stages, in DESIGN.md's order, written in one place
// (pipeline.cpp).
#pragma once

#include <memory>
#include <vector>

#include "milter/stage.h"

namespace outpost::milter {

class Pipeline {
public:
    Pipeline();
    // Opens the message's one read snapshot of the store, runs every stage's
    // end_of_headers, closes the snapshot. Never throws: an exception becomes
    // 451 4.3.0.
    StageResult end_of_headers(Message& m) const;
    void body(Message& m, const unsigned char* data, size_t len) const;
    // Runs every stage's end_of_message; on a refusal or an exception, undoes
    // the stages that ran. Never throws.
    StageResult end_of_message(Message& m) const;

    const std::vector<std::unique_ptr<Stage>>& stages() const { return stages_; }

private:
    std::vector<std::unique_ptr<Stage>> stages_;
};

// The pipeline all connections share.
const Pipeline& pipeline();

}  // namespace outpost::milter
