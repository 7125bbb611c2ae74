// dkim_keys.cpp - key generation with OpenSSL's EVP API; key files.
#include "dns/dkim_keys.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "base/error.h"
#include "store/secrets.h"

namespace outpost {
namespace {

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using CtxPtr = std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)>;
using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;

[[noreturn]] void crypto_fail(const char* what) {
    throw Error(Exit::environment, "CRYPTO_ERROR", std::string("OpenSSL: ") + what + " failed");
}

std::string base64(const unsigned char* p, size_t n) {
    std::string out(4 * ((n + 2) / 3) + 1, '\0');
    int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, static_cast<int>(n));
    out.resize(static_cast<size_t>(len));
    return out;
}

std::string public_b64(EVP_PKEY* key) {
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) {
        unsigned char raw[32];
        size_t len = sizeof raw;
        if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1) crypto_fail("EVP_PKEY_get_raw_public_key");
        return base64(raw, len);
    }
    int len = i2d_PUBKEY(key, nullptr);
    if (len <= 0) crypto_fail("i2d_PUBKEY");
    std::vector<unsigned char> der(static_cast<size_t>(len));
    unsigned char* p = der.data();
    i2d_PUBKEY(key, &p);
    return base64(der.data(), der.size());
}

[[noreturn]] void env_fail(const std::string& msg) {
    throw Error(Exit::environment, "KEY_ERROR", msg);
}

}  // namespace

KeyPair generate_key(KeyAlgorithm alg, int bits) {
    const bool rsa = alg == KeyAlgorithm::rsa;
    if (rsa && (bits < 1024 || bits > 4096))
        throw Error(
            Exit::invalid, "KEY_SIZE_INVALID",
            "RSA keys must be 1024 to 4096 bits (got " + std::to_string(bits) + "); use --rsa-bits 2048");
    CtxPtr ctx(EVP_PKEY_CTX_new_id(rsa ? EVP_PKEY_RSA : EVP_PKEY_ED25519, nullptr), &EVP_PKEY_CTX_free);
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) crypto_fail("EVP_PKEY_keygen_init");
    if (rsa && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), bits) != 1) crypto_fail("set_rsa_keygen_bits");
    EVP_PKEY* raw = nullptr;
    if (EVP_PKEY_keygen(ctx.get(), &raw) != 1) crypto_fail("EVP_PKEY_keygen");
    PkeyPtr key(raw, &EVP_PKEY_free);

    // BIO_s_secmem: the PEM text is cleared when the BIO is freed.
    BioPtr bio(BIO_new(BIO_s_secmem()), &BIO_free);
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
        crypto_fail("PEM_write_bio_PrivateKey");
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return KeyPair{std::string(data, static_cast<size_t>(n)), public_b64(key.get())};
}

std::string public_key_of(const std::string& pem) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
    if (!key) throw Error(Exit::environment, "KEY_ERROR", "not a PEM private key");
    return public_b64(key.get());
}

std::string dkim_txt_value(KeyAlgorithm alg, const std::string& p) {
    return std::string("v=DKIM1; k=") + to_string(alg) + "; p=" + p;
}

std::string KeyDir::path(const std::string& domain, const std::string& selector) const {
    return dir_ + "/" + selector + "._domainkey." + domain + ".pem";
}

void KeyDir::write(const std::string& domain, const std::string& selector, const std::string& pem) const {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec)
        env_fail("cannot create key directory " + dir_ + ": " + ec.message() +
                 "; create it or set store.keys to a writable directory");
    ::chmod(dir_.c_str(), 0700);
    owner_.give(dir_);
    const std::string final_path = path(domain, selector);
    if (::access(final_path.c_str(), F_OK) == 0)
        env_fail("key file " + final_path + " already exists; remove it if it is stale");
    const std::string tmp = final_path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        env_fail("cannot write " + tmp + ": " + std::strerror(errno) +
                 "; run as root or the outpost user, or fix store.keys");
    ::fchmod(fd, 0600);
    owner_.give(tmp);
    bool ok = ::write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), final_path.c_str()) != 0) {
        ::unlink(tmp.c_str());
        env_fail("cannot write " + final_path + ": " + std::strerror(errno));
    }
}

std::string KeyDir::read(const std::string& domain, const std::string& selector) const {
    const std::string p = path(domain, selector);
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0)
        env_fail("DKIM key " + p + " is missing: " + std::strerror(errno) +
                 "; restore it from backup or run `outpostctl domain dkim rotate " + domain + "`");
    if (st.st_mode & 077) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
        env_fail("DKIM key " + p + " has mode " + mode + " and is readable by others; run `chmod 600 " + p +
                 "`");
    }
    std::string pem;  // the caller wipes it
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    const bool ok = fd >= 0 && read_secret(fd, pem);
    const int err = errno;
    if (fd >= 0) ::close(fd);
    if (!ok)
        env_fail("cannot read DKIM key " + p + ": " + std::strerror(err) + "; run as root or the outpost user");
    return pem;
}

std::string KeyDir::read_matching(const std::string& domain, const std::string& selector,
                                  const std::string& public_b64) const {
    std::string pem = read(domain, selector);
    if (public_key_of(pem) != public_b64)
        env_fail("DKIM key " + path(domain, selector) +
                 " does not match the public key the store publishes for selector " + selector +
                 "; restore the right file, or run `outpostctl domain dkim rotate " + domain + "`");
    return pem;
}

void KeyDir::remove(const std::string& domain, const std::string& selector) const {
    ::unlink(path(domain, selector).c_str());
}

void KeyDir::set_aside(const std::string& domain, const std::string& selector, int64_t when) const {
    const std::string p = path(domain, selector);
    ::rename(p.c_str(), (p + ".removed-" + std::to_string(when)).c_str());
}

}  // namespace outpost
