// key_cache.h - DKIM private keys, read once and kept in memory.
//
// Keyed by (domain, selector). An entry is used only while the store still
// publishes the same public key for that selector: a key file that does not
// match the store (replaced, restored from the wrong backup) is refused
// instead of producing signatures that would never verify, and a selector
// whose key changes is read again. Keys are read from the KeyDir the first
// time a message needs them, so a rotation needs no reload.
//
// Thread-safe: one cache per store.keys directory, shared by all sessions.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "dns/dkim_keys.h"
#include "store/model.h"

namespace outpost::milter {

// A private key in memory; wiped when the last user lets go of it.
struct PrivateKey {
    std::string pem;
    std::string public_b64;
    KeyAlgorithm algorithm = KeyAlgorithm::rsa;
    bool registered = false;  // parsed once for libopendkim (key_reuse.h)
    ~PrivateKey();
};

class KeyCache {
public:
    explicit KeyCache(std::string dir) : dir_(std::move(dir)) {}
    // Throws Error(environment, DKIM_KEY_UNAVAILABLE, ...) if the key file is
    // missing, unreadable, has a bad mode, or does not match the selector.
    std::shared_ptr<const PrivateKey> get(const std::string& domain, const Selector& selector);
    const std::string& dir() const { return dir_.dir(); }
    size_t size() const;

private:
    KeyDir dir_;
    mutable std::mutex mu_;
    std::map<std::string, std::shared_ptr<const PrivateKey>> keys_;
};

}  // namespace outpost::milter
