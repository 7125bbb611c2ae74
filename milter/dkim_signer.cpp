// dkim_signer.cpp - relaxed canonicalization, the signature header, and
// signing with OpenSSL's EVP interface.
#include "milter/dkim_signer.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "base/error.h"
#include "base/text.h"

namespace outpost::milter {
namespace {

constexpr size_t kMargin = 75;        // columns of a folded signature line
constexpr size_t kFlushAt = 64 * 1024; // canonical body bytes hashed at once

[[noreturn]] void fail(const std::string& what) {
    throw Error(Exit::environment, "DKIM_ERROR", what);
}

std::string openssl_error() {
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "no detail from OpenSSL";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

bool is_wsp(unsigned char c) { return c == ' ' || c == '\t'; }

std::string base64(const unsigned char* data, size_t len) {
    std::string out(4 * ((len + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(len));
    out.resize(static_cast<size_t>(n));
    return out;
}

struct MdCtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// Signs `data` (the canonical headers) with `key`: RSASSA-PKCS1-v1_5 over
// SHA-256 for rsa-sha256; Ed25519 over the SHA-256 digest of `data` for
// ed25519-sha256 (RFC 8463 3).
std::string sign_headers(const SigningKey& key, const std::string& data) {
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    if (!ctx) fail("out of memory");
    std::string sig(key.signature_size(), '\0');
    size_t siglen = sig.size();
    auto* out = reinterpret_cast<unsigned char*>(sig.data());
    if (key.algorithm() == KeyAlgorithm::ed25519) {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int dlen = 0;
        if (EVP_Digest(data.data(), data.size(), digest, &dlen, EVP_sha256(), nullptr) != 1 ||
            EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
            EVP_DigestSign(ctx.get(), out, &siglen, digest, dlen) != 1)
            fail("ed25519 signing failed: " + openssl_error());
    } else {
        if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
            EVP_DigestSign(ctx.get(), out, &siglen, reinterpret_cast<const unsigned char*>(data.data()),
                           data.size()) != 1)
            fail("rsa-sha256 signing failed: " + openssl_error());
    }
    sig.resize(siglen);
    return sig;
}

}  // namespace

// --- SigningKey ---------------------------------------------------------

SigningKey::SigningKey(std::string_view pem, KeyAlgorithm alg, const std::string& what) : alg_(alg) {
    if (pem.rfind("-----", 0) != 0 || pem.find('\0') != std::string_view::npos)
        fail("DKIM key for " + what + " is not a PEM key");
    // A read-only memory BIO: the PEM is parsed where it lies, not copied.
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (!bio) fail("out of memory");
    pkey_ = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (!pkey_) fail("DKIM key for " + what + " cannot be parsed: " + openssl_error());
    const int id = EVP_PKEY_get_base_id(pkey_);
    if ((alg == KeyAlgorithm::rsa && id != EVP_PKEY_RSA) ||
        (alg == KeyAlgorithm::ed25519 && id != EVP_PKEY_ED25519)) {
        EVP_PKEY_free(pkey_);
        pkey_ = nullptr;
        fail("DKIM key for " + what + " is not an " + to_string(alg) + " key");
    }
    size_ = static_cast<size_t>(EVP_PKEY_get_size(pkey_));
}

SigningKey::~SigningKey() { EVP_PKEY_free(pkey_); }

// --- canonicalization ---------------------------------------------------

std::string relaxed_header(std::string_view name, std::string_view value, bool crlf) {
    std::string out;
    out.reserve(name.size() + value.size() + 3);
    for (char c : name) {
        if (is_wsp(static_cast<unsigned char>(c))) continue;
        out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    out += ':';
    bool space = false, started = false;
    for (size_t i = 0; i < value.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(value[i]);
        // Unfold: a line break (CRLF, or LF in the milter's form) goes.
        if (c == '\n' || (c == '\r' && i + 1 < value.size() && value[i + 1] == '\n')) continue;
        if (is_wsp(c)) {
            space = true;
            continue;
        }
        if (space && started) out += ' ';
        space = false;
        started = true;
        out += static_cast<char>(c);
    }
    if (crlf) out += "\r\n";
    return out;
}

RelaxedBodyHash::RelaxedBodyHash() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
        EVP_MD_CTX_free(ctx_);
        fail("SHA-256 is not available: " + openssl_error());
    }
    out_.reserve(kFlushAt + 1024);
}

RelaxedBodyHash::~RelaxedBodyHash() { EVP_MD_CTX_free(ctx_); }

void RelaxedBodyHash::flush() {
    if (out_.empty()) return;
    if (EVP_DigestUpdate(ctx_, out_.data(), out_.size()) != 1) fail("SHA-256 failed: " + openssl_error());
    out_.clear();
}

// A byte of a line's content (anything but WSP and the line's CRLF):
// the empty lines and the WSP before it are now known to be kept.
inline void RelaxedBodyHash::content(unsigned char c) {
    if (blank_lines_) {
        for (; blank_lines_; --blank_lines_) out_ += "\r\n";
    }
    if (space_) {
        out_ += ' ';
        space_ = false;
    }
    out_ += static_cast<char>(c);
    line_content_ = true;
}

void RelaxedBodyHash::update(const unsigned char* p, size_t len) {
    const unsigned char* end = p + len;
    while (p < end) {
        if (cr_) {
            cr_ = false;
            if (*p == '\n') {  // end of line: its trailing WSP goes
                ++p;
                space_ = false;
                if (line_content_) {
                    out_ += "\r\n";
                    line_content_ = false;
                } else {
                    ++blank_lines_;
                }
                if (out_.size() >= kFlushAt) flush();
                continue;
            }
            content('\r');  // a bare CR is part of the line
        }
        const unsigned char c = *p;
        if (c == '\r') {
            cr_ = true;
            ++p;
            continue;
        }
        if (c == ' ' || c == '\t') {
            space_ = true;
            ++p;
            continue;
        }
        // A run that canonicalization leaves as it is: content bytes and
        // single spaces between them. It ends at a CR, a TAB, or a space
        // followed by WSP or CR (or by the end of the chunk).
        const unsigned char* q = p + 1;
        while (q < end) {
            const unsigned char d = *q;
            if (d == '\r' || d == '\t') break;
            if (d == ' ') {
                if (q + 1 < end && q[1] != ' ' && q[1] != '\t' && q[1] != '\r') {
                    q += 2;
                    continue;
                }
                break;
            }
            ++q;
        }
        content(c);
        out_.append(reinterpret_cast<const char*>(p) + 1, static_cast<size_t>(q - p - 1));
        p = q;
        if (out_.size() >= kFlushAt) flush();
    }
}

std::array<unsigned char, 32> RelaxedBodyHash::finish() {
    if (cr_) {
        cr_ = false;
        content('\r');
    }
    if (line_content_) {
        out_ += "\r\n";
        line_content_ = false;
    }
    flush();
    std::array<unsigned char, 32> digest{};
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(ctx_, digest.data(), &n) != 1 || n != digest.size())
        fail("SHA-256 failed: " + openssl_error());
    return digest;
}

// --- the signature ------------------------------------------------------

const std::vector<std::string>& DkimSigner::signed_headers() {
    // RFC 6376 5.4.1's recommended set, plus the headers a receiver shows
    // or acts on. Absent headers are not listed in h= (except the
    // over-signed ones below).
    static const std::vector<std::string> list = {
        "from",        "reply-to",    "subject",          "date",
        "to",          "cc",          "resent-date",      "resent-from",
        "resent-to",   "resent-cc",   "in-reply-to",      "references",
        "list-id",     "list-help",   "list-unsubscribe", "list-unsubscribe-post",
        "list-subscribe", "list-post", "list-owner",      "list-archive",
        "message-id",  "mime-version", "content-type",    "content-transfer-encoding",
        "sender",      "feedback-id"};
    return list;
}

const std::vector<std::string>& DkimSigner::oversigned_headers() {
    // Every header a receiver shows or a replay could swap: named once more
    // in h= than the message holds (present or not), so that a second one
    // added after signing breaks the signature instead of being believed.
    static const std::vector<std::string> list = {
        "from",        "sender",       "reply-to",     "subject",      "date",
        "to",          "cc",           "message-id",   "in-reply-to",  "references",
        "mime-version", "content-type", "content-transfer-encoding",
        "list-unsubscribe", "list-unsubscribe-post"};
    return list;
}

DkimSigner::DkimSigner(std::shared_ptr<const SigningKey> key, std::string domain, std::string selector,
                       std::time_t now)
    : key_(std::move(key)), domain_(std::move(domain)), selector_(std::move(selector)), now_(now) {
    if (!key_) fail("no DKIM key for selector " + selector_);
}

void DkimSigner::header(std::string_view name, std::string_view value) {
    std::string l = lower(name);
    const auto& list = signed_headers();
    if (std::find(list.begin(), list.end(), l) == list.end()) return;
    headers_.push_back(Header{std::string(name), std::move(l), std::string(value)});
}

std::string fold_signature(const std::vector<std::string>& tags, size_t initial, size_t rsa_sig_octets) {
    const size_t b64_sig = rsa_sig_octets ? 4 * ((rsa_sig_octets + 2) / 3) : 0;
    std::string out;
    size_t col = initial;
    bool first = true;
    for (const std::string& tag : tags) {
        const std::string name = tag.substr(0, tag.find('='));
        // An RSA b= that cannot fit on this line starts a new one.
        const bool force = b64_sig && name == "b" && col + name.size() + b64_sig + 1 >= kMargin;
        if (first || col == 0) {
            out += tag;
            col += tag.size();
            first = false;
        } else if (force || col + tag.size() > kMargin) {
            out += "\r\n\t";
            col = 8;
            if (name == "h") {  // h= breaks after a colon
                size_t start = 0;
                bool first_name = true;
                while (start <= tag.size()) {
                    size_t colon = tag.find(':', start);
                    if (colon == std::string::npos) colon = tag.size();
                    const std::string_view piece(tag.data() + start, colon - start);
                    start = colon + 1;
                    if (piece.empty()) continue;
                    if (first_name) {
                        first_name = false;
                    } else if (col + piece.size() + 1 > kMargin) {
                        out += ":\r\n\t ";
                        col = 9;
                    } else {
                        out += ':';
                        col += 1;
                    }
                    out += piece;
                    col += piece.size();
                }
            } else if (name == "b" || name == "bh") {  // base64 breaks anywhere
                const size_t value = name.size() + 1;
                out.append(tag, 0, value);
                col += value + 1;  // the value's first character, below
                if (tag.size() > value) out += tag[value];
                size_t at = value + 1;
                while (at < tag.size()) {
                    if (col == kMargin) {
                        out += "\r\n\t ";
                        col = 9;
                    }
                    const size_t n = std::min(kMargin - col, tag.size() - at);
                    out.append(tag, at, n);
                    at += n;
                    col += n;
                }
            } else {
                out += tag;
                col += tag.size();
            }
        } else {
            out += ' ';
            out += tag;
            col += 1 + tag.size();
        }
    }
    return out;
}

std::string DkimSigner::finish() {
    const auto bh = body_.finish();
    const bool ed = key_->algorithm() == KeyAlgorithm::ed25519;
    std::vector<std::string> tags = {
        "v=1;",
        std::string("a=") + (ed ? "ed25519-sha256" : "rsa-sha256") + ";",
        "c=relaxed/relaxed;",
        "d=" + domain_ + ";",
        "s=" + selector_ + ";",
        "t=" + std::to_string(static_cast<unsigned long long>(now_)) + ";",
        "bh=" + base64(bh.data(), bh.size()) + ";",
    };
    // h=: the signed headers in message order. The k-th listed instance
    // of a name selects the k-th instance of it from the bottom (RFC 6376
    // 5.4.2), so the canonical headers are taken bottom-up per name.
    std::string h = "h=";
    std::string canon;
    std::map<std::string, std::vector<size_t>> instances;
    for (size_t i = 0; i < headers_.size(); ++i) instances[headers_[i].lower].push_back(i);
    std::map<std::string, size_t> listed;
    for (const Header& hd : headers_) {
        if (h.size() > 2) h += ':';
        h += hd.name;
        const auto& all = instances[hd.lower];
        const Header& pick = headers_[all[all.size() - 1 - listed[hd.lower]++]];
        canon += relaxed_header(pick.name, pick.value);
    }
    for (const std::string& o : oversigned_headers()) {
        h += h.size() > 2 ? ":" : "";
        h += o;
    }
    tags.push_back(h + ";");
    tags.push_back("b=");
    constexpr size_t kInitial = sizeof("DKIM-Signature: ") - 1;
    const size_t rsa_octets = ed ? 0 : key_->signature_size();
    canon += relaxed_header("DKIM-Signature", fold_signature(tags, kInitial, rsa_octets), false);
    const std::string sig = sign_headers(*key_, canon);
    tags.back() += base64(reinterpret_cast<const unsigned char*>(sig.data()), sig.size());
    const std::string folded = fold_signature(tags, kInitial, rsa_octets);
    std::string out;
    out.reserve(folded.size());
    for (char c : folded)
        if (c != '\r') out += c;
    return out;
}

}  // namespace outpost::milter
