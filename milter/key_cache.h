// key_cache.h - DKIM private keys, read once and kept in memory.
//
// Keyed by (domain, selector). An entry is used only while the store still
// publishes the same public key for that selector: a key file that does not
// match the store (replaced, restored from the wrong backup) is refused
// instead of producing signatures that would never verify, and a selector
// whose key changes is read again. Keys are read from the KeyDir the first
// time a message needs them, so a rotation needs no reload.
//
// Keys of selectors that no longer sign (retired, removed with their
// domain, replaced) are let go by prune(), which the milter runs every
// minute.
//
// Thread-safe: one cache per store.keys directory, shared by all sessions.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "dns/dkim_keys.h"
#include "milter/dkim_signer.h"
#include "store/model.h"

namespace outpost::milter {

// A private key in memory, parsed once; OpenSSL frees (and wipes) it when
// the last signature using it is done and the cache has let go of it.
struct PrivateKey {
    std::shared_ptr<const SigningKey> key;
    std::string public_b64;
    KeyAlgorithm algorithm = KeyAlgorithm::rsa;
};

class KeyCache {
public:
    explicit KeyCache(std::string dir) : dir_(std::move(dir)) {}
    // Throws Error(environment, DKIM_KEY_UNAVAILABLE, ...) if the key file is
    // missing, unreadable, has a bad mode, or does not match the selector.
    std::shared_ptr<const PrivateKey> get(const std::string& domain, const Selector& selector);
    // Drops every key for which `keep(domain, selector name, public key)`
    // is false; returns how many were dropped.
    size_t prune(const std::function<bool(const std::string&, const std::string&, const std::string&)>& keep);
    const std::string& dir() const { return dir_.dir(); }
    size_t size() const;

private:
    KeyDir dir_;
    mutable std::mutex mu_;
    struct Entry {
        std::string domain, selector;
        std::shared_ptr<const PrivateKey> key;
    };
    std::map<std::string, Entry> keys_;
};

}  // namespace outpost::milter
