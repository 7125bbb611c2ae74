// tokens.h - signed tokens for tracking and unsubscribe links.
//
// A token is  base64url(payload) "." base64url(HMAC-SHA256(secret, base64url(payload)))
// where payload is a compact JSON object that names the key id ("k") of the
// secret that signed it. Tokens cannot be forged without the secret, cannot
// be altered (any change breaks the MAC), carry their own purpose so an open
// token is never accepted as an unsubscribe token, and survive a rotation:
// old secrets stay in the file, so links already sent keep working.
//
// The secret file (tracking.secret_file) holds one secret per line,
//     KID BASE64URL-SECRET
// newest last; '#' starts a comment. New tokens are signed with the newest
// secret. The file is created by `outpostctl tracking init` with mode 0640
// and extended by `outpostctl tracking rotate`; it must not be readable by
// others or writable by anyone but its owner.
//
// Only a token's signature is trusted: verify() refuses tokens over
// kMaxTokenLength, parses the payload (bounded JSON, no exceptions) only to
// find its key id, checks the MAC in constant time, and only then returns
// the fields.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace outpost {

struct TokenPayload {
    std::string kind;       // "u" unsubscribe (one recipient), "m" mailto unsubscribe (domain),
                            // "o" open, "c" click
    std::string domain;     // sending domain (A-label)
    std::string recipient;  // lower-cased address, "" when the message had several
    std::string url;        // click target ("c" only)
    std::string message;    // MTA queue id, for correlation ("" if unknown)
    int64_t issued_at = 0;  // seconds since the epoch
};

class TokenKeys {
public:
    static constexpr size_t kMaxTokenLength = 4096;

    struct Secret {
        std::string kid;
        std::string key;  // raw bytes
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

    // Signs with the newest secret.
    std::string issue(const TokenPayload& p) const;
    // The payload of a genuine token; nullopt for anything else (bad shape,
    // unknown key id, wrong MAC, bad payload). Never throws.
    std::optional<TokenPayload> verify(const std::string& token) const;

    const std::string& current_kid() const { return secrets_.back().kid; }
    size_t size() const { return secrets_.size(); }
    bool has_kid(const std::string& kid) const;

private:
    std::vector<Secret> secrets_;  // never empty
};

// Secret file management (outpostctl tracking init|rotate).
// init: creates the file (mode 0640) with one new secret; refuses an
// existing file with Error(conflict, TRACKING_SECRET_EXISTS). Returns the kid.
std::string tracking_secret_init(const std::string& path);
// rotate: appends a new secret to an existing file. Returns the new kid.
std::string tracking_secret_rotate(const std::string& path);

// base64url without padding, decoding; nullopt on any invalid character.
std::optional<std::string> base64url_decode(const std::string& text);

}  // namespace outpost
