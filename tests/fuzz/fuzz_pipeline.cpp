// fuzz_pipeline.cpp - a whole message through outpost-milter's pipeline,
// driven as libmilter drives it (tests/unit/milter_fixture.h), over a store
// with one verified domain (RSA and Ed25519 selectors, clicks, opens,
// List-Unsubscribe and footer on) and one SASL key: the header reader and
// every stage (identify, authorize, line length, warmup, suppress,
// unsubscribe, track, return path, sign) on hostile input.
// Input: one octet of options (bit 0 the SASL login is given, bit 1 the
// MTA is Sendmail, bit 2 no SMFIF_CHGBODY, bits 3-7 the body chunk size),
// then the message: header lines up to the first CRLF CRLF (folded lines
// kept; a line without a colon is dropped, as no MTA passes it), the body
// after it (at most 256 KB).
// Invariants: never crashes, throws or leaks; every refusal has a 4xx or
// 5xx code, an enhanced status code of the same class and a reason token
// of capitals, digits and '_'; a header value the milter adds has CR or LF
// only as folding (CRLF or LF before a space or tab), and one it changes no
// more other CRs and LFs than the sender's header had: nothing a sender
// writes becomes a header of its own; a message that goes on has no
// X-Outpost-Key left, and a signed one has its DKIM-Signature first.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "message_input.h"
#include "milter_fixture.h"

namespace {

using outpost::test::MilterFixture;

MilterFixture& fixture() {
    static MilterFixture* f = [] {
        auto* m = new MilterFixture();
        m->add_verified("example.com", "both");
        outpost::SetDomainOptions o;
        o.track_clicks = true;
        o.track_opens = true;
        o.unsubscribe = true;
        o.unsubscribe_footer = true;
        m->admin->set_domain("example.com", o);
        m->add_key("app", outpost::test::sasl_key("app"));
        m->runtime();
        return m;
    }();
    return *f;
}

bool token_ok(const std::string& t) {
    if (t.empty()) return false;
    for (char c : t)
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
    return true;
}

void check_refusal(const outpost::milter::StageResult& r) {
    using V = outpost::milter::StageResult::Verdict;
    if (r.verdict != V::reject && r.verdict != V::tempfail) return;
    if (r.code.size() != 3 || (r.code[0] != '4' && r.code[0] != '5')) std::abort();
    if ((r.verdict == V::reject) != (r.code[0] == '5')) std::abort();
    if (r.xcode.empty() || r.xcode[0] != r.code[0] || r.xcode[1] != '.') std::abort();
    if (!token_ok(r.token)) std::abort();
}

// CRs and LFs of a value that are not part of a fold (CRLF or LF before a
// space or tab).
size_t line_breaks(const std::string& v) {
    size_t n = 0;
    for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '\r')
            n += i + 1 >= v.size() || v[i + 1] != '\n';
        else if (v[i] == '\n')
            n += i + 1 >= v.size() || (v[i + 1] != ' ' && v[i + 1] != '\t');
    }
    return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    outpost::fuzz::MessageInput in;
    if (!outpost::fuzz::message_input(data, size, 256 * 1024, in)) return 0;
    const uint8_t flags = in.flags;
    const std::string_view head = in.headers;

    outpost::test::Send s;
    s.body = std::string(in.body);
    // Header lines: a line starting with a space or tab continues the last.
    for (size_t pos = 0; pos < head.size();) {
        size_t eol = head.find("\r\n", pos);
        if (eol == std::string_view::npos) eol = head.size();
        const std::string_view line = head.substr(pos, eol - pos);
        pos = eol + 2;
        if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
            if (!s.headers.empty()) s.headers.back().second += "\r\n" + std::string(line);
            continue;
        }
        const size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) continue;
        s.headers.emplace_back(std::string(line.substr(0, colon)), std::string(line.substr(colon + 1)));
    }
    if (flags & 1) s.sasl = "app";
    s.sendmail = flags & 2;
    s.mta_allows_body_change = !(flags & 4);
    s.chunk = 1 + (flags >> 3) * 97;

    MilterFixture& f = fixture();
    outpost::test::Delivery d = outpost::test::send_message(f.runtime(), s);
    check_refusal(d.eoh);
    check_refusal(d.eom);
    if (std::getenv("OUTPOST_FUZZ_VERBOSE")) {  // what each input came to, for corpus work
        size_t sigs = 0;
        for (const auto& h : d.mta.headers) sigs += h.name == "DKIM-Signature";
        std::fprintf(stderr, "eoh %s %s, eom %s %s, %zu signature(s), body %s\n", d.eoh.code.c_str(),
                     d.eoh.token.c_str(), d.eom.code.c_str(), d.eom.token.c_str(), sigs,
                     d.mta.body_replaced ? "replaced" : "kept");
    }
    // What the milter added or changed (the Sendmail stage rewrites address
    // headers in Sendmail's form) carries no line break the sender's headers
    // of that name did not already have: none in a header it adds.
    for (const auto& h : d.mta.headers) {
        bool original = false;
        size_t allowed = 0;
        for (const auto& [n, v] : s.headers) {
            original = original || (n == h.name && v == h.value);
            if (outpost::milter::header_is(n, h.name.c_str())) allowed = std::max(allowed, line_breaks(v));
        }
        if (!original && line_breaks(h.value) > allowed) std::abort();
    }
    if (d.eoh.is_next() && d.eom.is_next()) {
        for (const auto& h : d.mta.headers)
            if (outpost::milter::header_is(h.name, "X-Outpost-Key")) std::abort();
        // outpost's signatures go first (the sender's own, if any, stay where they were).
        size_t sent = 0, delivered = 0;
        for (const auto& [n, v] : s.headers) sent += n == "DKIM-Signature";
        for (const auto& h : d.mta.headers) delivered += h.name == "DKIM-Signature";
        if (delivered > sent && d.mta.headers.front().name != "DKIM-Signature") std::abort();
    }
    return 0;
}
