// opendkim_reference.h - libopendkim as the reference DKIM signer, with
// outpost's policy (relaxed/relaxed, the same signed and over-signed
// headers, no l=) and a fixed t=, for the differential test of outpost's
// own signer (dkim_corpus.cpp).
#pragma once

#define _Bool bool  // NOLINT(bugprone-reserved-identifier): dkim.h is C
#include <opendkim/dkim.h>
#undef _Bool

#include <ctime>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace outpost::test {

class OpendkimSigner {
public:
    // The lists must outlive the library (libopendkim copies them, but the
    // caller keeps them anyway).
    OpendkimSigner(const std::vector<std::string>& sign, const std::vector<std::string>& over,
                   std::time_t fixed) {
        lib_ = dkim_init(nullptr, nullptr);
        if (!lib_) throw std::runtime_error("dkim_init failed");
        for (const auto& s : sign) sign_.push_back(s.c_str());
        sign_.push_back(nullptr);
        for (const auto& s : over) over_.push_back(s.c_str());
        over_.push_back(nullptr);
        // The array itself is the option's value (libopendkim copies it).
        const char** sp = sign_.data();
        const char** op = over_.data();
        uint64_t t = static_cast<uint64_t>(fixed);
        if (dkim_options(lib_, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, sp, sizeof sp) != DKIM_STAT_OK ||
            dkim_options(lib_, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS, op, sizeof op) != DKIM_STAT_OK ||
            dkim_options(lib_, DKIM_OP_SETOPT, DKIM_OPTS_FIXEDTIME, &t, sizeof t) != DKIM_STAT_OK)
            throw std::runtime_error("dkim_options failed");
    }
    ~OpendkimSigner() { dkim_close(lib_); }
    OpendkimSigner(const OpendkimSigner&) = delete;
    OpendkimSigner& operator=(const OpendkimSigner&) = delete;

    // Signs headers (name, value after the colon, CRLF folds) and body
    // (CRLF lines); returns the DKIM-Signature value (CRLF folds, no name).
    std::string sign(const std::string& pem, bool ed25519, const std::string& domain,
                     const std::string& selector,
                     const std::vector<std::pair<std::string, std::string>>& headers,
                     const std::string& body) {
        DKIM_STAT st = DKIM_STAT_OK;
        DKIM* d = dkim_sign(lib_, reinterpret_cast<const unsigned char*>("ref"), nullptr,
                            reinterpret_cast<dkim_sigkey_t>(const_cast<char*>(pem.c_str())),
                            reinterpret_cast<const unsigned char*>(selector.c_str()),
                            reinterpret_cast<const unsigned char*>(domain.c_str()), DKIM_CANON_RELAXED,
                            DKIM_CANON_RELAXED, ed25519 ? DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256, -1,
                            &st);
        if (!d) throw std::runtime_error(std::string("dkim_sign: ") + dkim_getresultstr(st));
        auto fail = [&](const char* call) {
            std::string why = std::string(call) + ": " + dkim_getresultstr(st);
            if (const char* e = dkim_geterror(d)) why += std::string(" (") + e + ")";
            dkim_free(d);
            throw std::runtime_error(why);
        };
        for (const auto& [n, v] : headers) {
            std::string h = n + ":" + v;
            if ((st = dkim_header(d, reinterpret_cast<u_char*>(h.data()), h.size())) != DKIM_STAT_OK)
                fail("dkim_header");
        }
        if ((st = dkim_eoh(d)) != DKIM_STAT_OK) fail("dkim_eoh");
        std::string b = body;
        if (!b.empty() && (st = dkim_body(d, reinterpret_cast<u_char*>(b.data()), b.size())) != DKIM_STAT_OK)
            fail("dkim_body");
        if ((st = dkim_eom(d, nullptr)) != DKIM_STAT_OK) fail("dkim_eom");
        u_char* buf = nullptr;
        size_t len = 0;
        if ((st = dkim_getsighdr_d(d, sizeof("DKIM-Signature: ") - 1, &buf, &len)) != DKIM_STAT_OK)
            fail("dkim_getsighdr_d");
        std::string out(reinterpret_cast<char*>(buf), len);
        dkim_free(d);
        return out;
    }

private:
    DKIM_LIB* lib_ = nullptr;
    std::vector<const char*> sign_, over_;
};

}  // namespace outpost::test
