// fuzz_tokens.cpp - the AEAD tracking tokens (store/tokens.h).
// Input: the first octet picks the mode; the rest is
//   even: a token string, verified against a fixed key set (kids "fz1" and
//         "fz2", newest last) for every kind;
//   odd:  a payload description (kind, issue time, then length-prefixed
//         domain, queue id, recipient, URL, sender and a digest count),
//         sealed, then opened again;
// plus base64url_decode over the rest in both modes.
// Invariants: verify never throws; a token verifies for at most one kind,
// and what it yields respects every field limit and the age window.
// issue() refuses exactly the payloads with a field over its limit (with
// TOKEN_FIELD_TOO_LONG); a sealed token has the shape "2" KID "." base64url,
// opens to the same payload (unless its domain is empty or the token is
// over kMaxTokenLength, which verify refuses), and does not open for
// another kind, under another secret with the same key id, or past its age.
// base64url_decode(base64url(x)) == x; a decoded text re-encodes to itself.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "store/secrets.h"
#include "store/tokens.h"

using outpost::TokenKeys;
using outpost::TokenKind;
using outpost::TokenPayload;

namespace {

constexpr int64_t kNow = 1795000000;
constexpr int64_t kYear = 365 * 86400;
constexpr TokenKind kKinds[] = {TokenKind::unsubscribe, TokenKind::mailto, TokenKind::open, TokenKind::click,
                                TokenKind::bounce};

std::string key_bytes(unsigned mul, unsigned add) {
    std::string k(32, '\0');
    for (unsigned i = 0; i < 32; ++i) k[i] = static_cast<char>((i * mul + add) & 0xff);
    return k;
}

// The fuzzer's key set (the seeds hold tokens sealed with it), and one with
// the same key ids but other secrets.
std::unique_ptr<TokenKeys> g_keys, g_other;

// Reads the payload description; short input gives empty fields.
class Cursor {
public:
    explicit Cursor(std::string_view s) : s_(s) {}
    uint8_t byte() {
        if (s_.empty()) return 0;
        const auto b = static_cast<uint8_t>(s_.front());
        s_.remove_prefix(1);
        return b;
    }
    std::string field() {
        size_t n = byte();
        n = (n << 8) | byte();
        n = std::min(n % 3000, s_.size());
        std::string v(s_.substr(0, n));
        s_.remove_prefix(n);
        return v;
    }

private:
    std::string_view s_;
};

bool payload_equal(const TokenPayload& a, const TokenPayload& b) {
    return a.kind == b.kind && a.domain == b.domain && a.message == b.message && a.recipient == b.recipient &&
           a.recipients == b.recipients && a.url == b.url && a.sender == b.sender && a.issued_at == b.issued_at;
}

void check_limits(const TokenPayload& p, TokenKind kind) {
    if (p.kind != kind) std::abort();
    if (p.domain.empty() || p.domain.size() > 253) std::abort();
    if (p.message.size() > 64 || p.recipient.size() > 320 || p.sender.size() > 320) std::abort();
    if (p.url.size() > 2048 + 8 || p.recipients.size() > TokenKeys::kMaxRecipients) std::abort();
    if (p.issued_at > kNow + TokenKeys::kClockSkew || kNow - p.issued_at > kYear) std::abort();
}

void verify_text(std::string_view token) {
    int accepted = 0;
    for (TokenKind k : kKinds) {
        const auto p = g_keys->verify(token, k, kNow, kYear);
        if (!p) continue;
        ++accepted;
        check_limits(*p, k);
        if (token.size() > TokenKeys::kMaxTokenLength || token.substr(0, 1) != "2") std::abort();
        if (g_other->verify(token, k, kNow, kYear)) std::abort();  // same kid, other secret
    }
    if (accepted > 1) std::abort();
}

bool over_limit(const TokenPayload& p) {
    std::string_view url = p.url;
    if (url.rfind("https://", 0) == 0)
        url.remove_prefix(8);
    else if (url.rfind("http://", 0) == 0)
        url.remove_prefix(7);
    return p.domain.size() > 253 || p.message.size() > 64 || p.recipient.size() > 320 || url.size() > 2048 ||
           p.sender.size() > 320 || p.recipients.size() > TokenKeys::kMaxRecipients;
}

void round_trip(std::string_view in) {
    Cursor c(in);
    TokenPayload p;
    const uint8_t kind = c.byte();
    p.kind = kKinds[kind % 5];
    uint32_t t = 0;
    for (int i = 0; i < 4; ++i) t = (t << 8) | c.byte();
    p.issued_at = t;
    p.domain = c.field();
    p.message = c.field();
    p.recipient = c.field();
    p.url = c.field();
    p.sender = c.field();
    const size_t digests = c.byte() % 45;
    for (size_t i = 0; i < digests; ++i) p.recipients.push_back(outpost::recipient_digest(std::to_string(i)));

    std::string token;
    try {
        token = g_keys->issue(p);
    } catch (const outpost::Error& e) {
        if (e.token() != "TOKEN_FIELD_TOO_LONG" || !over_limit(p)) std::abort();
        return;
    }
    if (over_limit(p)) std::abort();
    const std::string head = "2" + g_keys->current_kid() + ".";
    if (token.rfind(head, 0) != 0) std::abort();
    if (token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                                head.size()) != std::string::npos)
        std::abort();

    const int64_t now = p.issued_at + 60;
    const auto back = g_keys->verify(token, p.kind, now, kYear);
    const bool expect = !p.domain.empty() && token.size() <= TokenKeys::kMaxTokenLength;
    if (back.has_value() != expect) std::abort();
    if (!back) return;
    if (!payload_equal(*back, p)) std::abort();
    if (!p.recipient.empty() && !back->names(p.recipient)) std::abort();
    for (TokenKind k : kKinds)
        if (k != p.kind && g_keys->verify(token, k, now, kYear)) std::abort();
    if (g_other->verify(token, p.kind, now, kYear)) std::abort();
    if (g_keys->verify(token, p.kind, p.issued_at + 1000, 999)) std::abort();  // too old
    if (g_keys->verify(token, p.kind, p.issued_at - TokenKeys::kClockSkew - 1, kYear)) std::abort();  // ahead
}

void base64(std::string_view in) {
    const std::string raw(in);
    const auto back = outpost::base64url_decode(outpost::base64url(raw));
    if (!back || *back != raw) std::abort();
    if (const auto d = outpost::base64url_decode(in); d && outpost::base64url(*d) != in) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    g_keys = std::make_unique<TokenKeys>(std::vector<TokenKeys::Secret>{
        {"fz1", key_bytes(7, 1)}, {"fz2", key_bytes(13, 0xa5)}});
    g_other = std::make_unique<TokenKeys>(std::vector<TokenKeys::Secret>{
        {"fz1", key_bytes(5, 3)}, {"fz2", key_bytes(11, 0x5a)}});
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0 || size > 16384) return 0;
    const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (data[0] % 2 == 0)
        verify_text(rest);
    else
        round_trip(rest);
    base64(rest.substr(0, 4096));
    return 0;
}
