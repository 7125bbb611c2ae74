// secrets.cpp - random secrets and their hashes, with OpenSSL.
#include "store/secrets.h"

#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base/error.h"

namespace outpost {

std::string base64url(const std::string& bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    int n =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<size_t>(n));
    for (auto& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
    while (!out.empty() && out.back() == '=') out.pop_back();
    return out;
}

std::string new_api_secret() {
    std::string raw(32, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size())) != 1)
        throw Error(Exit::environment, "CRYPTO_ERROR", "RAND_bytes failed: no randomness available");
    std::string s = "op_" + base64url(raw);
    OPENSSL_cleanse(raw.data(), raw.size());
    return s;
}

std::string hash_secret(const std::string& secret) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(secret.data(), secret.size(), md, &len, EVP_sha256(), nullptr) != 1)
        throw Error(Exit::environment, "CRYPTO_ERROR", "EVP_Digest(sha256) failed");
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
        out += hex[md[i] >> 4];
        out += hex[md[i] & 15];
    }
    return out;
}

bool constant_time_equal(const std::string& a, const std::string& b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void wipe(std::string& secret) noexcept {
    OPENSSL_cleanse(secret.data(), secret.size());
    secret.clear();
}

bool read_secret(int fd, std::string& out) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return false;
    wipe(out);
    out.resize(static_cast<size_t>(st.st_size));  // read once, into its final place
    size_t got = 0;
    while (got < out.size()) {
        const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0) break;  // the file shrank meanwhile: what was read
        got += static_cast<size_t>(n);
    }
    out.resize(got);
    return true;
}

}  // namespace outpost
