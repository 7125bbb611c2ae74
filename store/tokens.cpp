// tokens.cpp - HMAC-SHA256 tokens and the tracking secret file.
#include "store/tokens.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "store/error.h"
#include "store/secrets.h"

namespace outpost {
namespace {

constexpr size_t kSecretBytes = 32;

[[noreturn]] void env_fail(const char* token, const std::string& msg) {
    throw Error(Exit::environment, token, msg);
}

std::string hmac_sha256(const std::string& key, const std::string& data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
              reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len))
        env_fail("CRYPTO_ERROR", "HMAC-SHA256 failed");
    return std::string(reinterpret_cast<const char*>(md), len);
}

bool valid_kid(const std::string& kid) {
    if (kid.empty() || kid.size() > 64) return false;
    for (unsigned char c : kid)
        if (!(std::isalnum(c) || c == '-' || c == '_')) return false;
    return true;
}

std::string random_bytes(size_t n) {
    std::string raw(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(n)) != 1)
        env_fail("CRYPTO_ERROR", "RAND_bytes failed: no randomness available");
    return raw;
}

// "k" + UTC date + "-" + 4 random hex digits: sortable, unique enough for a
// file that gains a line per rotation, and says when the secret was made.
std::string new_kid() {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char day[16];
    std::strftime(day, sizeof day, "%Y%m%d", &tm);
    const std::string r = random_bytes(2);
    char hex[8];
    std::snprintf(hex, sizeof hex, "%02x%02x", static_cast<unsigned char>(r[0]),
                  static_cast<unsigned char>(r[1]));
    return std::string("k") + day + "-" + hex;
}

std::string secret_line(const std::string& kid) {
    std::string raw = random_bytes(kSecretBytes);
    std::string line = kid + " " + base64url(raw) + "\n";
    OPENSSL_cleanse(raw.data(), raw.size());
    return line;
}

void write_all(int fd, const std::string& s, const std::string& path) {
    size_t off = 0;
    while (off < s.size()) {
        ssize_t n = ::write(fd, s.data() + off, s.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) env_fail("TRACKING_SECRET_WRITE", "cannot write " + path + ": " + std::strerror(errno));
        off += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0)
        env_fail("TRACKING_SECRET_WRITE", "cannot sync " + path + ": " + std::strerror(errno));
}

}  // namespace

std::optional<std::string> base64url_decode(const std::string& in) {
    static const auto table = [] {
        std::array<int, 256> t{};
        t.fill(-1);
        const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(a[i])] = i;
        return t;
    }();
    if (in.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(in.size() * 3 / 4);
    unsigned acc = 0;
    int bits = 0;
    for (unsigned char c : in) {
        int v = table[c];
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    // Non-canonical encodings (leftover bits set) are refused, so a token has
    // exactly one spelling.
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
    return out;
}

TokenKeys::TokenKeys(std::vector<Secret> secrets) : secrets_(std::move(secrets)) {
    if (secrets_.empty())
        env_fail("TRACKING_SECRET_INVALID", "no tracking secret given; run `outpostctl tracking init`");
}

bool TokenKeys::has_kid(const std::string& kid) const {
    for (const auto& s : secrets_)
        if (s.kid == kid) return true;
    return false;
}

TokenKeys::~TokenKeys() {
    for (auto& s : secrets_) OPENSSL_cleanse(s.key.data(), s.key.size());
}

TokenKeys TokenKeys::load(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT)
            env_fail("TRACKING_SECRET_MISSING",
                     "tracking secret file " + path +
                         " does not exist; run `outpostctl tracking init` to create it");
        env_fail("TRACKING_SECRET_MISSING",
                 "cannot read tracking secret file " + path + ": " + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) env_fail("TRACKING_SECRET_INVALID", path + " is not a regular file");
    if (st.st_mode & 0027) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
        env_fail("TRACKING_SECRET_INVALID",
                 "tracking secret file " + path + " has mode " + mode + "; run `chmod 640 " + path + "`");
    }
    std::ifstream in(path);
    if (!in)
        env_fail("TRACKING_SECRET_MISSING", "cannot read tracking secret file " + path + ": " +
                                                std::strerror(errno) +
                                                "; run as root or a member of its group");
    std::vector<Secret> secrets;
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        const auto where = path + ":" + std::to_string(lineno) + ": ";
        if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
        std::istringstream ls(line);
        std::string kid, b64, extra;
        if (!(ls >> kid)) continue;
        if (!(ls >> b64) || (ls >> extra))
            env_fail("TRACKING_SECRET_INVALID", where + "expected 'KID SECRET'");
        if (!valid_kid(kid)) env_fail("TRACKING_SECRET_INVALID", where + "bad key id '" + kid + "'");
        auto key = base64url_decode(b64);
        if (!key || key->size() < 16)
            env_fail("TRACKING_SECRET_INVALID", where + "the secret must be base64url of at least 16 bytes");
        for (const auto& s : secrets)
            if (s.kid == kid) env_fail("TRACKING_SECRET_INVALID", where + "key id '" + kid + "' repeated");
        secrets.push_back({kid, std::move(*key)});
        OPENSSL_cleanse(b64.data(), b64.size());
    }
    if (secrets.empty())
        env_fail("TRACKING_SECRET_INVALID",
                 "tracking secret file " + path + " holds no secret; run `outpostctl tracking rotate`");
    return TokenKeys(std::move(secrets));
}

std::string TokenKeys::issue(const TokenPayload& p) const {
    const Secret& s = secrets_.back();
    nlohmann::json j;
    j["k"] = s.kid;
    j["t"] = p.kind;
    j["d"] = p.domain;
    if (!p.recipient.empty()) j["r"] = p.recipient;
    if (!p.url.empty()) j["u"] = p.url;
    if (!p.message.empty()) j["m"] = p.message;
    j["i"] = p.issued_at;
    const std::string body = base64url(j.dump());
    return body + "." + base64url(hmac_sha256(s.key, body));
}

std::optional<TokenPayload> TokenKeys::verify(const std::string& token) const {
    try {
        if (token.empty() || token.size() > kMaxTokenLength) return std::nullopt;
        const auto dot = token.find('.');
        if (dot == std::string::npos || token.find('.', dot + 1) != std::string::npos) return std::nullopt;
        const std::string body = token.substr(0, dot);
        auto mac = base64url_decode(token.substr(dot + 1));
        auto text = base64url_decode(body);
        if (!mac || !text || mac->size() != 32) return std::nullopt;
        auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
        if (!j.is_object() || !j.contains("k") || !j["k"].is_string()) return std::nullopt;
        const std::string kid = j["k"].get<std::string>();
        const Secret* secret = nullptr;
        for (const auto& s : secrets_)
            if (s.kid == kid) secret = &s;
        if (!secret) return std::nullopt;
        if (!constant_time_equal(hmac_sha256(secret->key, body), *mac)) return std::nullopt;
        auto str = [&](const char* k) -> std::optional<std::string> {
            if (!j.contains(k)) return std::string();
            if (!j[k].is_string()) return std::nullopt;
            return j[k].get<std::string>();
        };
        TokenPayload p;
        auto kind = str("t"), domain = str("d"), rcpt = str("r"), url = str("u"), msg = str("m");
        if (!kind || !domain || !rcpt || !url || !msg || kind->empty()) return std::nullopt;
        if (!j.contains("i") || !j["i"].is_number_integer()) return std::nullopt;
        p.kind = *kind;
        p.domain = *domain;
        p.recipient = *rcpt;
        p.url = *url;
        p.message = *msg;
        p.issued_at = j["i"].get<int64_t>();
        return p;
    } catch (...) {
        return std::nullopt;
    }
}

std::string tracking_secret_init(const std::string& path) {
    std::string kid = new_kid();
    const std::string content =
        "# outpost tracking secrets: KID BASE64URL-SECRET, newest last.\n"
        "# Managed by `outpostctl tracking init|rotate`; keep old lines so links\n"
        "# already sent stay valid.\n" +
        secret_line(kid);
    const mode_t old = ::umask(0027);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    ::umask(old);
    if (fd < 0) {
        if (errno == EEXIST)
            throw Error(Exit::conflict, "TRACKING_SECRET_EXISTS",
                        path + " already exists; use `outpostctl tracking rotate` to add a secret");
        env_fail("TRACKING_SECRET_WRITE", "cannot create " + path + ": " + std::strerror(errno) +
                                              "; create its directory or set tracking.secret_file");
    }
    ::fchmod(fd, 0640);
    try {
        write_all(fd, content, path);
    } catch (...) {
        ::close(fd);
        ::unlink(path.c_str());
        throw;
    }
    ::close(fd);
    return kid;
}

std::string tracking_secret_rotate(const std::string& path) {
    // Validate first: never append to a file we could not read back.
    TokenKeys existing = TokenKeys::load(path);
    // Key ids carry 16 random bits: retry the rare clash with an existing id.
    std::string kid = new_kid();
    for (int i = 0; i < 16 && existing.has_kid(kid); ++i) kid = new_kid();
    if (existing.has_kid(kid)) env_fail("TRACKING_SECRET_WRITE", "could not pick a new key id for " + path);
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) env_fail("TRACKING_SECRET_WRITE", "cannot open " + path + ": " + std::strerror(errno));
    try {
        write_all(fd, secret_line(kid), path);
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
    return kid;
}

}  // namespace outpost
