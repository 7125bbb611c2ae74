// key_cache.cpp - read-once, parse-once DKIM keys.
#include "milter/key_cache.h"

#include <openssl/crypto.h>

#include "base/error.h"

namespace outpost::milter {

size_t KeyCache::size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return keys_.size();
}

std::shared_ptr<const PrivateKey> KeyCache::get(const std::string& domain, const Selector& sel) {
    const std::string id = sel.name + "._domainkey." + domain;
    {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = keys_.find(id);
        if (it != keys_.end() && it->second.key->public_b64 == sel.public_key &&
            it->second.key->algorithm == sel.algorithm)
            return it->second.key;
    }
    // Read and parse outside the lock: a slow disk must not stall other
    // sessions.
    auto key = std::make_shared<PrivateKey>();
    std::string pem;
    try {
        pem = dir_.read_matching(domain, sel.name, sel.public_key);
        key->key = std::make_shared<const SigningKey>(pem, sel.algorithm, id);
    } catch (const Error& e) {
        OPENSSL_cleanse(pem.data(), pem.size());
        throw Error(Exit::environment, "DKIM_KEY_UNAVAILABLE", e.what());
    }
    OPENSSL_cleanse(pem.data(), pem.size());
    key->public_b64 = sel.public_key;
    key->algorithm = sel.algorithm;
    std::lock_guard<std::mutex> lock(mu_);
    keys_[id] = Entry{domain, sel.name, key};
    return key;
}

size_t KeyCache::prune(
    const std::function<bool(const std::string&, const std::string&, const std::string&)>& keep) {
    std::vector<std::shared_ptr<const PrivateKey>> dropped;  // freed outside the lock
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = keys_.begin(); it != keys_.end();) {
        if (keep(it->second.domain, it->second.selector, it->second.key->public_b64)) {
            ++it;
        } else {
            dropped.push_back(std::move(it->second.key));
            it = keys_.erase(it);
        }
    }
    return dropped.size();
}

}  // namespace outpost::milter
