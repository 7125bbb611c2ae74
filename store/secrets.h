// secrets.h - API key secrets: generated once, stored only as a hash.
#pragma once

#include <string>

namespace outpost {

// "op_" + base64url of 32 random bytes (RAND_bytes).
std::string new_api_secret();
// Lower-case hex SHA-256. Secrets carry 256 random bits, so a fast hash is
// enough: there is nothing to brute-force.
std::string hash_secret(const std::string& secret);
// Constant-time comparison (CRYPTO_memcmp) of equal-length strings.
bool constant_time_equal(const std::string& a, const std::string& b);
// Overwrites a secret's bytes (OPENSSL_cleanse, which the compiler cannot
// drop) and empties it. For every copy of a secret outpost makes: API key
// secrets from a header or for printing, PEM text of DKIM keys, tracking
// secret file contents.
void wipe(std::string& secret) noexcept;
// Reads the rest of `fd` (a secret file: a DKIM key, the tracking secrets)
// into `out`, with no stream buffer keeping a copy nobody wipes; the caller
// wipes `out`. False on a read error, with errno set.
bool read_secret(int fd, std::string& out);
// Wipes a secret when the scope ends, however it ends.
struct WipeOnExit {
    std::string& secret;
    ~WipeOnExit() { wipe(secret); }
};
std::string base64url(const std::string& bytes);

}  // namespace outpost
