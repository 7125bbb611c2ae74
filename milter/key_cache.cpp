// key_cache.cpp - read-once DKIM keys.
#include "milter/key_cache.h"

#include <openssl/crypto.h>

#include "milter/key_reuse.h"
#include "store/error.h"

namespace outpost::milter {

PrivateKey::~PrivateKey() {
    OPENSSL_cleanse(pem.data(), pem.size());
}

size_t KeyCache::size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return keys_.size();
}

std::shared_ptr<const PrivateKey> KeyCache::get(const std::string& domain, const Selector& sel) {
    const std::string id = sel.name + "._domainkey." + domain;
    {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = keys_.find(id);
        if (it != keys_.end() && it->second->public_b64 == sel.public_key &&
            it->second->algorithm == sel.algorithm)
            return it->second;
    }
    // Read outside the lock: a slow disk must not stall other sessions.
    auto key = std::make_shared<PrivateKey>();
    try {
        key->pem = dir_.read(domain, sel.name);
        key->public_b64 = public_key_of(key->pem);
    } catch (const Error& e) {
        throw Error(Exit::environment, "DKIM_KEY_UNAVAILABLE", e.what());
    }
    key->algorithm = sel.algorithm;
    key->registered = register_parsed_key(key->pem);
    if (key->public_b64 != sel.public_key)
        throw Error(Exit::environment, "DKIM_KEY_UNAVAILABLE",
                    "DKIM key file " + dir_.path(domain, sel.name) +
                        " does not match the public key the store publishes for " + id +
                        "; restore the right key or run `outpostctl domain dkim rotate " + domain + "`");
    std::lock_guard<std::mutex> lock(mu_);
    keys_[id] = key;
    return key;
}

}  // namespace outpost::milter
