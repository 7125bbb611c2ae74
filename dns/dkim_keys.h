// dkim_keys.h - DKIM key pairs: generation (OpenSSL) and the key directory.
//
// Private keys live in store.keys, one PEM (PKCS#8) file per selector named
// "<selector>._domainkey.<domain>.pem", mode 0600, in a 0700 directory. They
// are never put in the shared LMDB environment, so a process that may read
// the store (outpost-trackd) cannot read them.
#pragma once

#include <string>

#include "store/model.h"
#include "store/owner.h"

namespace outpost {

struct KeyPair {
    std::string private_pem;  // PKCS#8 PEM
    std::string public_b64;   // the p= value: SubjectPublicKeyInfo (RSA) or raw 32 bytes (ed25519)
};

// rsa: bits in [1024, 4096]; ed25519: bits ignored.
KeyPair generate_key(KeyAlgorithm alg, int bits);

// The p= value for a PEM private key (to check a key file against the store).
std::string public_key_of(const std::string& private_pem);

// "v=DKIM1; k=rsa; p=..." (or k=ed25519).
std::string dkim_txt_value(KeyAlgorithm alg, const std::string& public_b64);

class KeyDir {
public:
    explicit KeyDir(std::string dir, ServiceOwner owner = {}) : dir_(std::move(dir)), owner_(owner) {}
    std::string path(const std::string& domain, const std::string& selector) const;
    // Creates the directory (0700) if needed and writes the file atomically
    // with mode 0600. Refuses to overwrite an existing key.
    void write(const std::string& domain, const std::string& selector, const std::string& pem) const;
    // Reads a key; refuses a file readable or writable by group or others,
    // naming the chmod that fixes it.
    std::string read(const std::string& domain, const std::string& selector) const;
    // read(), then refuses a key whose public half is not `public_b64` (the
    // p= value the store publishes for the selector), naming the fix.
    std::string read_matching(const std::string& domain, const std::string& selector,
                              const std::string& public_b64) const;
    void remove(const std::string& domain, const std::string& selector) const;
    // Renames the key to "<path>.removed-<when>" (domain removal).
    void set_aside(const std::string& domain, const std::string& selector, int64_t when) const;
    const std::string& dir() const { return dir_; }
    const ServiceOwner& owner() const { return owner_; }

private:
    std::string dir_;
    ServiceOwner owner_;  // new directories and files are given to it
};

}  // namespace outpost
