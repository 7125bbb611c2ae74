// tokens.cpp - AES-256-GCM tokens (version 2) and the tracking secret file.
//
// Payload (plaintext), all integers big-endian, lengths as one byte or, for
// the URL, two bytes:
//
//     kind      1   TokenKind
//     flags     1   which optional fields follow (kHas*)
//     issued    4   seconds since the epoch (unsigned, good until 2106)
//     domain    1+n
//     [message  1+n]            kHasMessage; n hex digits packed in
//                               (n+1)/2 bytes with kMessageHex
//     [recipient 2+n]           kHasRecipient
//     [digests  1+6k]           kHasDigests
//     [url      2+n]            kHasUrl; without "https://" (kUrlHttps)
//                               or "http://" (kUrlHttp)
//     [sender   2+n]            kHasSender
//
// Nothing else may follow. The sealed form is nonce(12) || ciphertext ||
// tag(16), with "2" KID as the additional data.
#include "store/tokens.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>

#include "base/error.h"
#include "store/secrets.h"

namespace outpost {
namespace {

constexpr size_t kSecretBytes = 32;
constexpr char kVersion = '2';
constexpr size_t kNonceBytes = 12, kTagBytes = 16;
constexpr size_t kMaxKid = 8;
constexpr uint8_t kHasMessage = 1, kHasRecipient = 2, kHasDigests = 4, kHasUrl = 8;
// The URL's scheme, when it is one of these, is a flag instead of bytes.
constexpr uint8_t kUrlHttps = 0x10, kUrlHttp = 0x20;
// A queue id of upper-case hex digits (Postfix's short ids) is packed two
// digits a byte.
constexpr uint8_t kMessageHex = 0x40;
constexpr uint8_t kHasSender = 0x80;

bool upper_hex(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return false;
    return true;
}
constexpr size_t kMaxDomain = 253, kMaxMessage = 64, kMaxRecipient = 320, kMaxUrl = 2048;

[[noreturn]] void env_fail(const char* token, const std::string& msg) {
    throw Error(Exit::environment, token, msg);
}

bool valid_kid(std::string_view kid) {
    if (kid.empty() || kid.size() > kMaxKid) return false;
    for (unsigned char c : kid)
        if (!std::isalnum(c)) return false;
    return true;
}

std::string random_bytes(size_t n) {
    std::string raw(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(n)) != 1)
        env_fail("CRYPTO_ERROR", "RAND_bytes failed: no randomness available");
    return raw;
}

// Four random letters and digits: a key id is in every token, so it is
// short; the file's comment says when each secret was made.
std::string new_kid() {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const std::string r = random_bytes(4);
    std::string kid;
    for (unsigned char c : r) kid += alphabet[c % 62];
    return kid;
}

std::string secret_line(const std::string& kid) {
    std::string raw = random_bytes(kSecretBytes);
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char day[32];
    std::strftime(day, sizeof day, "%Y-%m-%d", &tm);
    std::string line = kid + " " + base64url(raw) + "  # added " + day + "\n";
    OPENSSL_cleanse(raw.data(), raw.size());
    return line;
}

// The next line of `rest` (without its LF), and `rest` moved past it.
std::string_view next_line(std::string_view& rest) {
    const size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    return line;
}

// The white-space separated fields of a secret file line, '#' to the end
// being a comment.
std::vector<std::string_view> fields_of(std::string_view line) {
    line = line.substr(0, line.find('#'));
    std::vector<std::string_view> out;
    static constexpr std::string_view kSpace = " \t\r\f\v";
    for (size_t at = line.find_first_not_of(kSpace); at != std::string_view::npos;
         at = line.find_first_not_of(kSpace, at)) {
        const size_t end = line.find_first_of(kSpace, at);
        out.push_back(line.substr(at, end == std::string_view::npos ? end : end - at));
        at = end;
    }
    return out;
}

// The whole secret file, read with no stream buffer keeping a copy.
void read_secret_file(const std::string& path, std::string& out) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    const bool ok = fd >= 0 && read_secret(fd, out);
    const int err = errno;
    if (fd >= 0) ::close(fd);
    if (!ok)
        env_fail("TRACKING_SECRET_MISSING", "cannot read tracking secret file " + path + ": " +
                                                std::strerror(err) + "; run as root or a member of its group");
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

using Cipher = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

Cipher new_cipher() {
    Cipher c(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
    if (!c) env_fail("CRYPTO_ERROR", "EVP_CIPHER_CTX_new failed");
    return c;
}

[[noreturn]] void too_long(const char* field, size_t max) {
    throw Error(Exit::usage, "TOKEN_FIELD_TOO_LONG",
                std::string("a token's ") + field + " may hold at most " + std::to_string(max) + " octets");
}

void put_field(std::string& out, std::string_view v, size_t max, int len_bytes, const char* field) {
    if (v.size() > max) too_long(field, max);
    if (len_bytes == 2) out += static_cast<char>(v.size() >> 8);
    out += static_cast<char>(v.size() & 0xff);
    out.append(v);
}

std::string encode_payload(const TokenPayload& p) {
    uint8_t flags = 0;
    if (!p.message.empty()) flags |= kHasMessage;
    if (upper_hex(p.message) && p.message.size() <= kMaxMessage) flags |= kMessageHex;
    if (!p.recipient.empty()) flags |= kHasRecipient;
    if (!p.recipients.empty()) flags |= kHasDigests;
    std::string_view url = p.url;
    if (!url.empty()) flags |= kHasUrl;
    if (!p.sender.empty()) flags |= kHasSender;
    if (url.rfind("https://", 0) == 0) {
        flags |= kUrlHttps;
        url.remove_prefix(8);
    } else if (url.rfind("http://", 0) == 0) {
        flags |= kUrlHttp;
        url.remove_prefix(7);
    }
    if (p.recipients.size() > TokenKeys::kMaxRecipients) too_long("recipient set", TokenKeys::kMaxRecipients);
    std::string out;
    out.reserve(32 + p.domain.size() + p.message.size() + p.recipient.size() + p.url.size() +
                6 * p.recipients.size());
    out += static_cast<char>(p.kind);
    out += static_cast<char>(flags);
    const auto t = static_cast<uint32_t>(p.issued_at);
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((t >> shift) & 0xff);
    put_field(out, p.domain, kMaxDomain, 1, "domain");
    if (flags & kMessageHex) {
        out += static_cast<char>(p.message.size());
        for (size_t i = 0; i < p.message.size(); i += 2) {
            auto nib = [&](size_t j) -> int {
                if (j >= p.message.size()) return 0;
                const char c = p.message[j];
                return c <= '9' ? c - '0' : c - 'A' + 10;
            };
            out += static_cast<char>(nib(i) << 4 | nib(i + 1));
        }
    } else if (flags & kHasMessage) {
        put_field(out, p.message, kMaxMessage, 1, "queue id");
    }
    if (flags & kHasRecipient) put_field(out, p.recipient, kMaxRecipient, 2, "recipient");
    if (flags & kHasDigests) {
        out += static_cast<char>(p.recipients.size());
        for (const auto& d : p.recipients) out.append(reinterpret_cast<const char*>(d.data()), d.size());
    }
    if (flags & kHasUrl) put_field(out, url, kMaxUrl, 2, "URL");
    if (flags & kHasSender) put_field(out, p.sender, kMaxRecipient, 2, "sender");
    return out;
}

// Reads the payload; every length is checked against what is left.
class Reader {
public:
    explicit Reader(std::string_view s) : s_(s) {}
    bool byte(uint8_t& v) {
        if (s_.empty()) return false;
        v = static_cast<uint8_t>(s_.front());
        s_.remove_prefix(1);
        return true;
    }
    bool bytes(size_t n, std::string_view& v) {
        if (s_.size() < n) return false;
        v = s_.substr(0, n);
        s_.remove_prefix(n);
        return true;
    }
    bool field(int len_bytes, size_t max, std::string& v) {
        size_t n = 0;
        for (int i = 0; i < len_bytes; ++i) {
            uint8_t b = 0;
            if (!byte(b)) return false;
            n = (n << 8) | b;
        }
        std::string_view raw;
        if (n > max || !bytes(n, raw)) return false;
        v.assign(raw);
        return true;
    }
    bool done() const { return s_.empty(); }

private:
    std::string_view s_;
};

bool known_kind(uint8_t k) {
    switch (static_cast<TokenKind>(k)) {
        case TokenKind::unsubscribe:
        case TokenKind::mailto:
        case TokenKind::open:
        case TokenKind::click:
        case TokenKind::bounce:
            return true;
    }
    return false;
}

std::optional<TokenPayload> decode_payload(std::string_view s) {
    Reader r(s);
    TokenPayload p;
    uint8_t kind = 0, flags = 0;
    std::string_view when;
    if (!r.byte(kind) || !known_kind(kind) || !r.byte(flags) ||
        (flags & kMessageHex && !(flags & kHasMessage)) || (flags & kUrlHttps && flags & kUrlHttp) ||
        (flags & (kUrlHttps | kUrlHttp) && !(flags & kHasUrl)) || !r.bytes(4, when))
        return std::nullopt;
    p.kind = static_cast<TokenKind>(kind);
    uint32_t t = 0;
    for (unsigned char c : when) t = (t << 8) | c;
    p.issued_at = t;
    if (!r.field(1, kMaxDomain, p.domain) || p.domain.empty()) return std::nullopt;
    if (flags & kMessageHex) {
        uint8_t n = 0;
        std::string_view packed;
        if (!r.byte(n) || n == 0 || n > kMaxMessage || !r.bytes((n + 1u) / 2, packed)) return std::nullopt;
        static const char hex[] = "0123456789ABCDEF";
        for (size_t i = 0; i < n; ++i) {
            const auto b = static_cast<uint8_t>(packed[i / 2]);
            p.message += hex[i % 2 ? b & 15 : b >> 4];
        }
    } else if ((flags & kHasMessage) && !r.field(1, kMaxMessage, p.message)) {
        return std::nullopt;
    }
    if ((flags & kHasRecipient) && !r.field(2, kMaxRecipient, p.recipient)) return std::nullopt;
    if (flags & kHasDigests) {
        uint8_t n = 0;
        if (!r.byte(n) || n == 0 || n > TokenKeys::kMaxRecipients) return std::nullopt;
        for (uint8_t i = 0; i < n; ++i) {
            std::string_view raw;
            if (!r.bytes(sizeof(RecipientDigest), raw)) return std::nullopt;
            RecipientDigest d{};
            std::memcpy(d.data(), raw.data(), d.size());
            p.recipients.push_back(d);
        }
    }
    if ((flags & kHasUrl) && !r.field(2, kMaxUrl, p.url)) return std::nullopt;
    if ((flags & kHasSender) && !r.field(2, kMaxRecipient, p.sender)) return std::nullopt;
    if (flags & kUrlHttps) p.url.insert(0, "https://");
    if (flags & kUrlHttp) p.url.insert(0, "http://");
    if (!r.done()) return std::nullopt;
    return p;
}

}  // namespace

std::optional<std::string> base64url_decode(std::string_view in) {
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
    for (const auto& s : secrets_)
        if (s.key.size() != kSecretBytes || !valid_kid(s.kid))
            env_fail("TRACKING_SECRET_INVALID",
                     "a tracking secret is 32 bytes under a key id of 1 to 8 letters and digits; "
                     "`outpostctl tracking init` and `rotate` write such lines");
}

bool TokenKeys::has_kid(std::string_view kid) const {
    for (const auto& s : secrets_)
        if (s.kid == kid) return true;
    return false;
}

std::vector<std::string> TokenKeys::kids() const {
    std::vector<std::string> out;
    for (const auto& s : secrets_) out.push_back(s.kid);
    return out;
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
    std::string content;  // every copy of the secrets made here is wiped
    WipeOnExit wipe_content{content};
    read_secret_file(path, content);
    std::vector<Secret> secrets;
    int lineno = 0;
    for (std::string_view rest = content; !rest.empty();) {
        ++lineno;
        const auto where = path + ":" + std::to_string(lineno) + ": ";
        const std::vector<std::string_view> fields = fields_of(next_line(rest));
        if (fields.empty()) continue;
        if (fields.size() != 2) env_fail("TRACKING_SECRET_INVALID", where + "expected 'KID SECRET'");
        const std::string kid(fields[0]);
        if (!valid_kid(kid))
            env_fail("TRACKING_SECRET_INVALID",
                     where + "bad key id '" + kid +
                         "' (1 to 8 letters and digits; `outpostctl tracking rotate` makes one)");
        auto key = base64url_decode(fields[1]);
        if (!key || key->size() != kSecretBytes)
            env_fail("TRACKING_SECRET_INVALID", where + "the secret must be base64url of 32 bytes (AES-256)");
        for (const auto& s : secrets)
            if (s.kid == kid) env_fail("TRACKING_SECRET_INVALID", where + "key id '" + kid + "' repeated");
        secrets.push_back({kid, std::move(*key)});
    }
    if (secrets.empty())
        env_fail("TRACKING_SECRET_INVALID",
                 "tracking secret file " + path + " holds no secret; run `outpostctl tracking rotate`");
    return TokenKeys(std::move(secrets));
}

std::string TokenKeys::issue(const TokenPayload& p) const {
    const Secret& s = secrets_.back();
    const std::string aad = kVersion + s.kid;
    std::string plain = encode_payload(p);
    std::string sealed = random_bytes(kNonceBytes);
    sealed.resize(kNonceBytes + plain.size() + kTagBytes);
    auto* out = reinterpret_cast<unsigned char*>(sealed.data());
    Cipher c = new_cipher();
    int n = 0, fin = 0;
    const bool ok =
        EVP_EncryptInit_ex(c.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
        EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
        EVP_EncryptInit_ex(c.get(), nullptr, nullptr, reinterpret_cast<const unsigned char*>(s.key.data()),
                           out) == 1 &&
        EVP_EncryptUpdate(c.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(aad.data()),
                          static_cast<int>(aad.size())) == 1 &&
        EVP_EncryptUpdate(c.get(), out + kNonceBytes, &n,
                          reinterpret_cast<const unsigned char*>(plain.data()),
                          static_cast<int>(plain.size())) == 1 &&
        EVP_EncryptFinal_ex(c.get(), out + kNonceBytes + n, &fin) == 1 &&
        static_cast<size_t>(n + fin) == plain.size() &&
        EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, out + kNonceBytes + plain.size()) == 1;
    OPENSSL_cleanse(plain.data(), plain.size());
    if (!ok) env_fail("CRYPTO_ERROR", "AES-256-GCM sealing failed");
    return aad + "." + base64url(sealed);
}

std::optional<TokenPayload> TokenKeys::verify(std::string_view token, TokenKind kind, int64_t now,
                                              int64_t max_age) const {
    try {
        if (token.size() < 3 || token.size() > kMaxTokenLength || token.front() != kVersion)
            return std::nullopt;
        const auto dot = token.find('.');
        if (dot == std::string_view::npos) return std::nullopt;
        const std::string_view kid = token.substr(1, dot - 1);
        if (!valid_kid(kid)) return std::nullopt;
        const Secret* secret = nullptr;
        for (const auto& s : secrets_)
            if (s.kid == kid) secret = &s;
        if (!secret) return std::nullopt;
        auto sealed = base64url_decode(token.substr(dot + 1));
        if (!sealed || sealed->size() < kNonceBytes + kTagBytes + 7) return std::nullopt;
        const auto* in = reinterpret_cast<const unsigned char*>(sealed->data());
        const size_t clen = sealed->size() - kNonceBytes - kTagBytes;
        std::string plain(clen, '\0');
        Cipher c = new_cipher();
        int n = 0, fin = 0;
        // The tag is set before the final call, which checks it: nothing of
        // the plaintext is looked at unless the tag matched.
        const bool ok =
            EVP_DecryptInit_ex(c.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
            EVP_DecryptInit_ex(c.get(), nullptr, nullptr,
                               reinterpret_cast<const unsigned char*>(secret->key.data()), in) == 1 &&
            EVP_DecryptUpdate(c.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(token.data()),
                              static_cast<int>(dot)) == 1 &&
            EVP_DecryptUpdate(c.get(), reinterpret_cast<unsigned char*>(plain.data()), &n, in + kNonceBytes,
                              static_cast<int>(clen)) == 1 &&
            EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes,
                                const_cast<unsigned char*>(in + kNonceBytes + clen)) == 1 &&
            EVP_DecryptFinal_ex(c.get(), reinterpret_cast<unsigned char*>(plain.data()) + n, &fin) == 1;
        if (!ok) return std::nullopt;
        auto p = decode_payload(plain);
        OPENSSL_cleanse(plain.data(), plain.size());
        if (!p || p->kind != kind) return std::nullopt;
        if (p->issued_at > now + kClockSkew || now - p->issued_at > max_age) return std::nullopt;
        return p;
    } catch (...) {
        return std::nullopt;
    }
}

const char* to_string(TokenKind k) {
    switch (k) {
        case TokenKind::unsubscribe:
            return "unsubscribe";
        case TokenKind::mailto:
            return "mailto";
        case TokenKind::open:
            return "open";
        case TokenKind::click:
            return "click";
        case TokenKind::bounce:
            return "bounce";
    }
    return "unknown";
}

RecipientDigest recipient_digest(std::string_view address) {
    std::string lower(address);
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(lower.data(), lower.size(), md, &len, EVP_sha256(), nullptr) != 1)
        env_fail("CRYPTO_ERROR", "EVP_Digest(sha256) failed");
    RecipientDigest d{};
    std::memcpy(d.data(), md, d.size());
    return d;
}

bool TokenPayload::names(std::string_view address) const {
    if (address.empty()) return false;
    if (!recipient.empty() && recipient.size() == address.size()) {
        bool same = true;
        for (size_t i = 0; i < address.size(); ++i)
            if (std::tolower(static_cast<unsigned char>(address[i])) !=
                std::tolower(static_cast<unsigned char>(recipient[i])))
                same = false;
        if (same) return true;
    }
    const RecipientDigest d = recipient_digest(address);
    for (const auto& r : recipients)
        if (r == d) return true;
    return false;
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

void tracking_secret_retire(const std::string& path, const std::string& kid) {
    TokenKeys existing = TokenKeys::load(path);
    if (!existing.has_kid(kid))
        throw Error(Exit::not_found, "TRACKING_KEY_NOT_FOUND",
                    "no key " + kid + " in " + path + "; see `outpostctl tracking show`");
    if (existing.current_kid() == kid)
        throw Error(
            Exit::conflict, "TRACKING_KEY_CURRENT",
            "key " + kid + " is the one new links are sealed with; run `outpostctl tracking rotate` first");
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        env_fail("TRACKING_SECRET_WRITE", "cannot stat " + path + ": " + std::strerror(errno));
    std::string old, content;  // both wiped, however this ends
    WipeOnExit wipe_old{old}, wipe_content{content};
    read_secret_file(path, old);
    for (std::string_view rest = old; !rest.empty();) {
        const std::string_view line = next_line(rest);
        const auto fields = fields_of(line);
        if (!fields.empty() && fields[0] == kid) continue;
        content.append(line);
        content += '\n';
    }
    // Write beside the file and rename over it, so a crash leaves either
    // the old file or the new one.
    const std::string tmp = path + ".new";
    ::unlink(tmp.c_str());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) env_fail("TRACKING_SECRET_WRITE", "cannot create " + tmp + ": " + std::strerror(errno));
    try {
        if (::fchown(fd, st.st_uid, st.st_gid) != 0 && ::geteuid() == 0)
            env_fail("TRACKING_SECRET_WRITE", "cannot give " + tmp + " the owner of " + path);
        if (::fchmod(fd, st.st_mode & 07777) != 0)
            env_fail("TRACKING_SECRET_WRITE", "cannot set the mode of " + tmp + ": " + std::strerror(errno));
        write_all(fd, content, tmp);
    } catch (...) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        ::unlink(tmp.c_str());
        env_fail("TRACKING_SECRET_WRITE", "cannot replace " + path + ": " + std::strerror(errno));
    }
}

}  // namespace outpost
