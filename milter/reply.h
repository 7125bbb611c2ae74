// reply.h - what a stage decides, and the one mapping from that decision to
// libmilter's status and the SMTP reply the client sees.
//
// Every refusal carries an SMTP code, an enhanced status code and a stable
// reason token first in its text (DESIGN.md, "SMTP replies"):
//     550 5.7.1 DOMAIN_NOT_FOUND example.com is not a sending domain of this relay
// The status follows the code: 5xx rejects, 4xx tempfails, so a reply and
// its status can never disagree.
#pragma once

#include <string>

namespace outpost::milter {

struct StageResult {
    enum class Verdict { next, accept, reject, tempfail };
    Verdict verdict = Verdict::next;
    std::string code;   // "550"
    std::string xcode;  // "5.7.1"
    std::string token;  // "DOMAIN_NOT_FOUND"
    std::string text;   // human sentence

    static StageResult next() { return {}; }
    // 550 5.7.1 TOKEN text: policy refusals.
    static StageResult policy(std::string token, std::string text);
    // Any refusal with its own codes; the verdict follows the first digit.
    static StageResult refuse(std::string code, std::string xcode, std::string token, std::string text);
    // 451 4.3.0 TOKEN text: outpost's own fault (store, keys, bugs).
    static StageResult internal(std::string token, std::string text);
    // Accepted untouched, no further stage runs (mail outpost does not
    // manage); `reason` goes to the log line.
    static StageResult pass(std::string reason);

    bool is_next() const { return verdict == Verdict::next; }
};

// What the libmilter shim does with a result.
struct MilterReply {
    int status = 0;          // SMFIS_CONTINUE, SMFIS_REJECT, SMFIS_TEMPFAIL, SMFIS_ACCEPT
    bool set_reply = false;  // call smfi_setreply(code, xcode, message)
    std::string code, xcode, message;
};

MilterReply map_result(const StageResult& r);

// Reply text made safe for smfi_setreply: printable ASCII only (no CR, LF or
// '%', which Sendmail would interpret), at most 400 bytes.
std::string reply_text(const std::string& s);

}  // namespace outpost::milter
