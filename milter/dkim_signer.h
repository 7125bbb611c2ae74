// dkim_signer.h - outpost's DKIM signer (RFC 6376, RFC 8463).
//
// relaxed/relaxed canonicalization, rsa-sha256 and ed25519-sha256, over
// keys parsed once (SigningKey, shared by every signature that uses it).
// The body is canonicalized in one pass over each chunk and hashed in
// large blocks; the headers are canonicalized when the signature is made.
//
// The signature header is the one libopendkim 2.11 writes for the same
// policy, byte for byte (tests/unit/test_dkim_differential.cpp signs a
// corpus with both): tags v a c d s t bh h b in that order, h= listing
// the signed headers present in message order followed by the
// over-signed names, folded at 75 columns the same way. Where libopendkim
// departs from RFC 6376 (it drops a bare CR in a relaxed body, and treats
// a bare CR, VT or FF in a header value as space), this signer follows
// the RFC, as dkimpy and Mail::DKIM do.
//
// Errors throw outpost::Error(environment, DKIM_ERROR, ...); the sign
// stage turns them into 451 4.3.0, never into unsigned mail.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/model.h"

namespace outpost::milter {

// A private key parsed once from PEM (PKCS#8 or traditional), released
// with its last user.
class SigningKey {
public:
    // `what` names the key in errors ("sel._domainkey.example.com").
    SigningKey(std::string_view pem, KeyAlgorithm alg, const std::string& what);
    ~SigningKey();
    SigningKey(const SigningKey&) = delete;
    SigningKey& operator=(const SigningKey&) = delete;

    EVP_PKEY* get() const { return pkey_; }
    KeyAlgorithm algorithm() const { return alg_; }
    // Octets of one signature (256 for RSA-2048, 64 for Ed25519).
    size_t signature_size() const { return size_; }

private:
    EVP_PKEY* pkey_ = nullptr;
    KeyAlgorithm alg_;
    size_t size_ = 0;
};

// The relaxed canonical form of one header (RFC 6376 3.4.2): the name in
// lower case, the value unfolded, runs of WSP made one SP, no WSP at the
// ends; "name:value" plus CRLF when `crlf`. A value may be folded with LF
// (the milter's form) or CRLF.
std::string relaxed_header(std::string_view name, std::string_view value, bool crlf = true);

// SHA-256 over the relaxed canonical body (RFC 6376 3.4.4), fed in
// chunks of any size and split anywhere.
class RelaxedBodyHash {
public:
    RelaxedBodyHash();
    ~RelaxedBodyHash();
    RelaxedBodyHash(const RelaxedBodyHash&) = delete;
    RelaxedBodyHash& operator=(const RelaxedBodyHash&) = delete;

    void update(const unsigned char* data, size_t len);
    // Ends the body (a last line without CRLF gets one; empty lines at the
    // end are dropped) and returns the digest.
    std::array<unsigned char, 32> finish();

private:
    void content(unsigned char c);
    void flush();
    EVP_MD_CTX* ctx_ = nullptr;
    std::string out_;           // canonical bytes not yet hashed
    size_t blank_lines_ = 0;    // empty lines held back (dropped at the end)
    bool space_ = false;        // WSP seen since the last content byte
    bool cr_ = false;           // the last byte was CR
    bool line_content_ = false; // the current line has content
};

class DkimSigner {
public:
    // `now`: the t= tag.
    DkimSigner(std::shared_ptr<const SigningKey> key, std::string domain, std::string selector,
               std::time_t now);
    DkimSigner(const DkimSigner&) = delete;
    DkimSigner& operator=(const DkimSigner&) = delete;

    // One header as it will be delivered: name and value as the MTA gave
    // them (the value starts after the colon; folds as LF or CRLF).
    void header(std::string_view name, std::string_view value);
    void end_of_headers() {}
    // A body chunk in SMTP form (CRLF line ends), streamed.
    void body(const unsigned char* data, size_t len) { body_.update(data, len); }
    // Finishes and returns the DKIM-Signature value: without the header
    // name, folded with LF + TAB (the form milter header values take), no
    // leading space.
    std::string finish();

    const std::string& selector() const { return selector_; }
    KeyAlgorithm algorithm() const { return key_->algorithm(); }

    // The header names signed when present (lower case), and those also
    // over-signed (named once more in h=, so that none can be added).
    static const std::vector<std::string>& signed_headers();
    static const std::vector<std::string>& oversigned_headers();

private:
    struct Header {
        std::string name, lower, value;
    };
    std::shared_ptr<const SigningKey> key_;
    std::string domain_, selector_;
    std::time_t now_;
    std::vector<Header> headers_;
    RelaxedBodyHash body_;
};

// Folds the tag list of a DKIM-Signature ("v=1;", "a=rsa-sha256;", ...,
// "b=...") into the header value libopendkim writes: 75 columns, the first
// line already holding `initial` columns, CRLF + TAB between lines.
// Exposed for tests.
std::string fold_signature(const std::vector<std::string>& tags, size_t initial, size_t rsa_sig_octets);

}  // namespace outpost::milter
