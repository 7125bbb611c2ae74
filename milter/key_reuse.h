// key_reuse.h - parse each DKIM private key once, not once per message.
//
// libopendkim takes the signing key as PEM text and parses it for every
// signature (dkim_privkey_load -> PEM_read_bio_PrivateKey). With OpenSSL 3
// that parse costs ~0.45 ms of CPU here: more than an ed25519 signature,
// a third of an RSA-2048 one. KeyCache registers each key it loads; this
// file defines PEM_read_bio_PrivateKey for the program, so when
// libopendkim asks to parse a memory buffer holding exactly a registered
// key, it gets another reference to the key parsed at load time
// (EVP_PKEY_up_ref; OpenSSL keys are safe to sign with from several
// threads at once). Every other call goes to OpenSSL's own function
// unchanged (found with dlsym(RTLD_NEXT)).
#pragma once

#include <cstddef>
#include <string>

namespace outpost::milter {

// Parses `pem` once and keeps it (counted: register as often as released).
// Returns false if OpenSSL cannot parse it.
bool register_parsed_key(const std::string& pem);
void release_parsed_key(const std::string& pem);

// How many parses were answered from registered keys (for tests).
size_t parsed_key_reuses();

}  // namespace outpost::milter
