// line_length.cpp - header lines at end of headers, body lines as they stream.
#include "milter/stages/line_length.h"

#include <cstring>
#include <string>

namespace outpost::milter {

size_t line_limit(const Session& s) {
    return s.sendmail ? 990 : 998;
}

StageResult LineLengthStage::end_of_headers(Message& m) {
    Transaction& t = m.txn;
    if (!t.domain) return StageResult::next();  // not signed: not ours to judge
    const size_t limit = line_limit(m.session);
    for (const auto& h : t.headers) {
        // "Name: value": the first line carries the name, the colon and
        // the space after it (which the MTA takes off the value unless
        // SMFIP_HDR_LEADSPC was negotiated); each further line of a folded
        // value starts after a LF.
        size_t start = 0, line = 1;
        for (;;) {
            size_t end = h.value.find('\n', start);
            const size_t stop = end == std::string::npos ? h.value.size() : end;
            size_t octets = stop - start;
            if (octets > 0 && h.value[stop - 1] == '\r') --octets;
            if (line == 1) {
                const bool space = !h.value.empty() && (h.value[0] == ' ' || h.value[0] == '\t');
                octets += h.name.size() + 1 + (space ? 0 : 1);
            }
            if (octets > limit)
                return StageResult::refuse(
                    "550", "5.6.0", "LINE_TOO_LONG",
                    "header " + h.name + (line > 1 ? " (line " + std::to_string(line) + " of it)" : "") +
                        " is " + std::to_string(octets) + " octets on one line; at most " +
                        std::to_string(limit) + " can be relayed unchanged and signed: fold it");
            if (end == std::string::npos) break;
            start = end + 1;
            ++line;
        }
    }
    t.line_check = true;
    return StageResult::next();
}

void LineLengthStage::body(Message& m, const unsigned char* data, size_t len) {
    Transaction& t = m.txn;
    if (!t.line_check) return;
    auto& l = t.lines;
    const size_t limit = line_limit(m.session);
    const unsigned char* p = data;
    const unsigned char* end = data + len;
    while (p < end) {
        const void* nl = std::memchr(p, '\n', static_cast<size_t>(end - p));
        const unsigned char* stop = nl ? static_cast<const unsigned char*>(nl) : end;
        l.run += static_cast<size_t>(stop - p);
        // Whether the octet before `stop` is a CR (possibly the last octet
        // of the previous chunk): the CR of a CRLF is not part of the line.
        const bool cr = stop > p ? stop[-1] == '\r' : l.last_cr;
        if (!nl) {
            l.last_cr = cr;
            break;
        }
        const size_t octets = l.run - (cr ? 1 : 0);
        if (octets > limit && l.long_line == 0) {
            l.long_line = l.number;
            l.long_octets = octets;
        }
        l.run = 0;
        l.last_cr = false;
        ++l.number;
        p = stop + 1;
    }
}

StageResult LineLengthStage::end_of_message(Message& m) {
    Transaction& t = m.txn;
    if (!t.line_check) return StageResult::next();
    auto& l = t.lines;
    // A last line without CRLF counts too.
    const size_t last = l.run - (l.last_cr ? 1 : 0);
    if (l.long_line == 0 && last > line_limit(m.session)) {
        l.long_line = l.number;
        l.long_octets = last;
    }
    if (l.long_line == 0) return StageResult::next();
    return StageResult::refuse("550", "5.6.0", "LINE_TOO_LONG",
                               "line " + std::to_string(l.long_line) + " of the body is " +
                                   std::to_string(l.long_octets) + " octets; at most " +
                                   std::to_string(line_limit(m.session)) +
                                   " can be relayed unchanged and signed: send that part "
                                   "quoted-printable or base64");
}

}  // namespace outpost::milter
