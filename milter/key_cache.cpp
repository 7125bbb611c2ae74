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
        key->pem = dir_.read_matching(domain, sel.name, sel.public_key);
    } catch (const Error& e) {
        throw Error(Exit::environment, "DKIM_KEY_UNAVAILABLE", e.what());
    }
    key->public_b64 = sel.public_key;
    key->algorithm = sel.algorithm;
    key->registered = register_parsed_key(key->pem);
    std::lock_guard<std::mutex> lock(mu_);
    keys_[id] = key;
    return key;
}

}  // namespace outpost::milter
