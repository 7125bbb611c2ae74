// tokens.h - private tokens for tracking, unsubscribe and (later) VERP.
//
// A token, version 2, is
//
//     "2" KID "." base64url(nonce[12] || ciphertext || tag[16])
//
// sealed with AES-256-GCM (OpenSSL EVP) under the secret named by KID; the
// text before the dot is the additional authenticated data, so neither the
// version nor the key id can be swapped. The plaintext is a small binary
// payload (see tokens.cpp: kind, flags, issue time, domain, queue id,
// recipient, recipient digests, URL, envelope sender), so whoever sees a URL or a header
// learns nothing of the recipient, the domain or the click target, and
// cannot forge or alter a token. A click link for a common URL stays well
// under 200 characters.
//
// Each token carries its kind, and verify() accepts only the kind the caller
// asks for, so an open or click token is never an unsubscribe token. Each
// kind has its own lifetime (tracking.*_lifetime); the caller passes it.
//
// The secret file (tracking.secret_file) holds one secret per line,
//     KID BASE64URL-SECRET
// newest last; '#' starts a comment. KID is 1 to 8 letters and digits. New
// tokens are sealed with the newest secret; older lines stay accepted, so
// links already sent keep working after `outpostctl tracking rotate`, until
// `outpostctl tracking retire KID` removes one. The file is created by
// `outpostctl tracking init` with mode 0640; it must not be readable by
// others.
//
// Only the tag is trusted: verify() refuses tokens over kMaxTokenLength,
// finds the key by its id, opens the AEAD (which checks the tag) and only
// then parses the payload, with every length checked.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace outpost {

enum class TokenKind : uint8_t {
    unsubscribe = 'u',  // one-click / page unsubscribe of one recipient
    mailto = 'm',       // mailto unsubscribe: the recipients it was issued for
    open = 'o',         // open pixel
    click = 'c',        // click redirect (carries the URL)
    bounce = 'b',       // VERP return path
};
const char* to_string(TokenKind k);

// First 6 bytes of SHA-256 of a lower-cased address: names a recipient
// inside a token without carrying the address (the whole payload is
// encrypted anyway; the digest keeps mailto and click tokens short).
using RecipientDigest = std::array<uint8_t, 6>;
RecipientDigest recipient_digest(std::string_view address);

struct TokenPayload {
    TokenKind kind = TokenKind::unsubscribe;
    std::string domain;     // sending domain (A-label)
    std::string message;    // MTA queue id, for correlation ("" if unknown)
    std::string recipient;  // lower-cased address when the token is for one recipient
                            // (unsubscribe, mailto with one recipient, bounce)
    std::vector<RecipientDigest> recipients;  // mailto: the set it was issued for;
                                              // open/click: the one recipient, if one
    std::string url;                          // click target (click only)
    std::string sender;                       // original envelope sender (bounce only)
    int64_t issued_at = 0;                    // seconds since the epoch

    // True if `address` (any case) is the recipient or in the digest set.
    bool names(std::string_view address) const;
};

class TokenKeys {
public:
    static constexpr size_t kMaxTokenLength = 4096;
    static constexpr size_t kMaxRecipients = 40;  // digests a mailto token carries
    static constexpr int64_t kClockSkew = 300;    // issue times this far ahead are accepted

    struct Secret {
        std::string kid;
        std::string key;  // 32 raw bytes
    };

    // Reads the secret file. Throws Error(environment, TRACKING_SECRET_MISSING)
    // naming `outpostctl tracking init` if it does not exist, and
    // Error(environment, TRACKING_SECRET_INVALID) for a bad mode or line.
    static TokenKeys load(const std::string& path);
    explicit TokenKeys(std::vector<Secret> secrets);
    ~TokenKeys();
    TokenKeys(TokenKeys&&) noexcept = default;
    TokenKeys& operator=(TokenKeys&&) noexcept = default;
    TokenKeys(const TokenKeys&) = delete;
    TokenKeys& operator=(const TokenKeys&) = delete;

    // Seals with the newest secret. Throws Error(environment, CRYPTO_ERROR)
    // if OpenSSL fails and Error(usage, TOKEN_FIELD_TOO_LONG) for a field
    // over its limit (domain 253, queue id 64, recipient 320, URL 2048,
    // kMaxRecipients digests).
    std::string issue(const TokenPayload& p) const;
    // The payload of a genuine token of kind `kind` issued at most `max_age`
    // seconds before `now` (and not more than kClockSkew after it); nullopt
    // for anything else: bad shape, unknown or retired key id, failed tag,
    // other kind, expired, bad payload. Never throws.
    std::optional<TokenPayload> verify(std::string_view token, TokenKind kind, int64_t now,
                                       int64_t max_age) const;

    const std::string& current_kid() const { return secrets_.back().kid; }
    size_t size() const { return secrets_.size(); }
    bool has_kid(std::string_view kid) const;
    std::vector<std::string> kids() const;

private:
    std::vector<Secret> secrets_;  // never empty
};

// Secret file management (outpostctl tracking init|rotate|retire).
// init: creates the file (mode 0640) with one new secret; refuses an
// existing file with Error(conflict, TRACKING_SECRET_EXISTS). Returns the kid.
std::string tracking_secret_init(const std::string& path);
// rotate: appends a new secret to an existing file. Returns the new kid.
std::string tracking_secret_rotate(const std::string& path);
// retire: removes the secret `kid` (tokens sealed with it are refused from
// then on). Refuses the newest secret (Error(conflict, TRACKING_KEY_CURRENT))
// and an unknown kid (Error(not_found, TRACKING_KEY_NOT_FOUND)). The file is
// replaced atomically with its mode and owner kept.
void tracking_secret_retire(const std::string& path, const std::string& kid);

// base64url without padding, decoding; nullopt on any invalid character.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace outpost
