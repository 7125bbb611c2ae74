// dkim_signer.h - libopendkim, wrapped once (RAII), for the sign stage.
//
// libopendkim follows the milter's stages: dkim_sign -> dkim_header... ->
// dkim_eoh -> dkim_body... -> dkim_eom -> dkim_getsighdr_d -> dkim_free.
// DkimLibrary is the process-wide DKIM_LIB with outpost's signing policy set
// once: relaxed/relaxed, the RFC 6376 5.4.1 recommended header list plus
// the MIME and List-Unsubscribe headers, From, List-Unsubscribe and
// List-Unsubscribe-Post over-signed (so none can be added later), and never
// an l= tag. DkimSigner is one signature over one message.
//
// Errors throw outpost::Error(environment, DKIM_ERROR, ...) naming the call;
// the sign stage turns them into 451 4.3.0, never into unsigned mail.
#pragma once

#define _Bool bool  // NOLINT(bugprone-reserved-identifier): dkim.h is C
#include <opendkim/dkim.h>
#undef _Bool

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/model.h"

namespace outpost::milter {

class DkimLibrary {
public:
    DkimLibrary();
    ~DkimLibrary();
    DkimLibrary(const DkimLibrary&) = delete;
    DkimLibrary& operator=(const DkimLibrary&) = delete;

    DKIM_LIB* get() const { return lib_; }
    bool has_ed25519() const;
    // The header names signed (when present), in h= order of preference.
    static const std::vector<std::string>& signed_headers();
    static const std::vector<std::string>& oversigned_headers();

private:
    DKIM_LIB* lib_ = nullptr;
};

class DkimSigner {
public:
    // `pem`: the PKCS#8 PEM private key (RSA or Ed25519; libopendkim reads
    // both with PEM_read_bio_PrivateKey and copies it). `id`: the queue id,
    // for libopendkim's own messages.
    DkimSigner(const DkimLibrary& lib, const std::string& id, const std::string& pem,
               const std::string& domain, const std::string& selector, KeyAlgorithm alg);
    DkimSigner(const DkimSigner&) = delete;
    DkimSigner& operator=(const DkimSigner&) = delete;

    // One header as it will be delivered: name and value as the MTA gave
    // them (folds as LF or CRLF; they are made CRLF here).
    void header(std::string_view name, std::string_view value);
    void end_of_headers();
    // A body chunk in SMTP form (CRLF line ends), streamed.
    void body(const unsigned char* data, size_t len);
    // Finishes and returns the DKIM-Signature value: without the header
    // name, folded with LF + TAB (the form milter header values take), no
    // leading space.
    std::string finish();

    const std::string& selector() const { return selector_; }
    KeyAlgorithm algorithm() const { return alg_; }

private:
    struct Free {
        void operator()(DKIM* d) const { dkim_free(d); }
    };
    [[noreturn]] void fail(const char* call, DKIM_STAT st) const;
    std::unique_ptr<DKIM, Free> dkim_;
    std::string selector_;
    KeyAlgorithm alg_;
    std::string scratch_;
    bool body_seen_ = false, ends_crlf_ = false, last_cr_ = false;
};

}  // namespace outpost::milter
