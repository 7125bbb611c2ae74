// key_reuse.cpp - the registry of parsed keys, and the PEM_read_bio_PrivateKey
// that answers from it.
#include "milter/key_reuse.h"

#include <dlfcn.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <atomic>
#include <mutex>
#include <unordered_map>

namespace outpost::milter {
namespace {

using ReadFn = EVP_PKEY* (*)(BIO*, EVP_PKEY**, pem_password_cb*, void*);

ReadFn real_read() {
    static const ReadFn fn = reinterpret_cast<ReadFn>(::dlsym(RTLD_NEXT, "PEM_read_bio_PrivateKey"));
    return fn;
}

struct Entry {
    EVP_PKEY* key = nullptr;
    size_t refs = 0;
};

std::mutex g_mu;
std::unordered_map<std::string, Entry>& registry() {
    static auto* r = new std::unordered_map<std::string, Entry>;  // outlives every user
    return *r;
}
std::atomic<size_t> g_reuses{0};

EVP_PKEY* lookup(const char* data, long len) {
    if (len <= 0 || len > 64 * 1024) return nullptr;
    const std::string pem(data, static_cast<size_t>(len));
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = registry().find(pem);
    if (it == registry().end()) return nullptr;
    EVP_PKEY_up_ref(it->second.key);
    ++g_reuses;
    return it->second.key;
}

}  // namespace

bool register_parsed_key(const std::string& pem) {
    {
        std::lock_guard<std::mutex> lock(g_mu);
        auto it = registry().find(pem);
        if (it != registry().end()) {
            ++it->second.refs;
            return true;
        }
    }
    ReadFn read = real_read();
    if (!read) return false;
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (!bio) return false;
    EVP_PKEY* key = read(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (!key) return false;
    std::lock_guard<std::mutex> lock(g_mu);
    auto [it, inserted] = registry().try_emplace(pem, Entry{key, 0});
    if (!inserted) EVP_PKEY_free(key);  // registered meanwhile by another thread
    ++it->second.refs;
    return true;
}

void release_parsed_key(const std::string& pem) {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = registry().find(pem);
    if (it == registry().end()) return;
    if (--it->second.refs == 0) {
        EVP_PKEY_free(it->second.key);
        auto node = registry().extract(it);
        OPENSSL_cleanse(node.key().data(), node.key().size());
    }
}

size_t parsed_key_reuses() {
    return g_reuses.load();
}

}  // namespace outpost::milter

// Takes the place of OpenSSL's function for the whole program (see
// key_reuse.h). Only a plain read of a memory buffer can be answered from
// the registry; anything else, and any buffer not registered, is parsed by
// OpenSSL as usual.
extern "C" EVP_PKEY* PEM_read_bio_PrivateKey(BIO* bp, EVP_PKEY** x, pem_password_cb* cb, void* u) {
    if (!x && bp && BIO_method_type(bp) == BIO_TYPE_MEM) {
        char* data = nullptr;
        const long len = BIO_get_mem_data(bp, &data);
        if (EVP_PKEY* k = outpost::milter::lookup(data, len)) return k;
    }
    auto read = outpost::milter::real_read();
    return read ? read(bp, x, cb, u) : nullptr;
}
