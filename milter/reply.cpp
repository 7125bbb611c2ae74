// reply.cpp - the stage-result-to-milter mapper.
#include "milter/reply.h"

#include <libmilter/mfapi.h>

namespace outpost::milter {

StageResult StageResult::policy(std::string token, std::string text) {
    return refuse("550", "5.7.1", std::move(token), std::move(text));
}

StageResult StageResult::refuse(std::string code, std::string xcode, std::string token, std::string text) {
    StageResult r;
    r.verdict = !code.empty() && code[0] == '5' ? Verdict::reject : Verdict::tempfail;
    r.code = std::move(code);
    r.xcode = std::move(xcode);
    r.token = std::move(token);
    r.text = std::move(text);
    return r;
}

StageResult StageResult::internal(std::string token, std::string text) {
    return refuse("451", "4.3.0", std::move(token), std::move(text));
}

StageResult StageResult::pass(std::string reason) {
    StageResult r;
    r.verdict = Verdict::accept;
    r.token = std::move(reason);
    return r;
}

std::string reply_text(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (out.size() >= 400) break;
        if (c == '\r' || c == '\n' || c == '\t') c = ' ';
        if (c < 0x20 || c >= 0x7f || c == '%') continue;
        out += static_cast<char>(c);
    }
    return out;
}

namespace {
bool valid_code(const std::string& code, const std::string& xcode) {
    if (code.size() != 3 || (code[0] != '4' && code[0] != '5')) return false;
    for (char c : code)
        if (c < '0' || c > '9') return false;
    return xcode.size() >= 5 && xcode[0] == code[0] && xcode[1] == '.';
}
}  // namespace

MilterReply map_result(const StageResult& r) {
    MilterReply m;
    switch (r.verdict) {
        case StageResult::Verdict::next:
            m.status = SMFIS_CONTINUE;
            return m;
        case StageResult::Verdict::accept:
            m.status = SMFIS_ACCEPT;
            return m;
        case StageResult::Verdict::reject:
        case StageResult::Verdict::tempfail:
            break;
    }
    m.set_reply = true;
    if (valid_code(r.code, r.xcode)) {
        m.code = r.code;
        m.xcode = r.xcode;
    } else {  // a bug in a stage: fail safe, temporarily
        m.code = "451";
        m.xcode = "4.3.0";
    }
    m.status = m.code[0] == '5' ? SMFIS_REJECT : SMFIS_TEMPFAIL;
    m.message = reply_text(r.token.empty() ? r.text : r.token + " " + r.text);
    return m;
}

}  // namespace outpost::milter
