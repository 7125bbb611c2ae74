// dkim_signer.cpp - the libopendkim wrapper.
#include "milter/dkim_signer.h"

#include "store/error.h"

namespace outpost::milter {
namespace {

[[noreturn]] void lib_fail(const std::string& what) {
    throw Error(Exit::environment, "DKIM_ERROR", what);
}

// A NULL-terminated array of C strings that lives as long as the process
// (libopendkim copies the lists, but keeping them costs nothing).
const char** c_list(const std::vector<std::string>& v) {
    auto* out = new const char*[v.size() + 1];
    for (size_t i = 0; i < v.size(); ++i) out[i] = v[i].c_str();
    out[v.size()] = nullptr;
    return out;
}

}  // namespace

const std::vector<std::string>& DkimLibrary::signed_headers() {
    // RFC 6376 5.4.1 recommended set, plus the headers a receiver shows or
    // acts on. Absent headers are simply not listed in h= (except the
    // over-signed ones below).
    static const std::vector<std::string> list = {"from",
                                                  "reply-to",
                                                  "subject",
                                                  "date",
                                                  "to",
                                                  "cc",
                                                  "resent-date",
                                                  "resent-from",
                                                  "resent-to",
                                                  "resent-cc",
                                                  "in-reply-to",
                                                  "references",
                                                  "list-id",
                                                  "list-help",
                                                  "list-unsubscribe",
                                                  "list-unsubscribe-post",
                                                  "list-subscribe",
                                                  "list-post",
                                                  "list-owner",
                                                  "list-archive",
                                                  "message-id",
                                                  "mime-version",
                                                  "content-type",
                                                  "content-transfer-encoding",
                                                  "sender",
                                                  "feedback-id"};
    return list;
}

const std::vector<std::string>& DkimLibrary::oversigned_headers() {
    static const std::vector<std::string> list = {"from", "list-unsubscribe", "list-unsubscribe-post"};
    return list;
}

DkimLibrary::DkimLibrary() {
    lib_ = dkim_init(nullptr, nullptr);
    if (!lib_) lib_fail("dkim_init failed: out of memory");
    static const char** sign = c_list(signed_headers());
    static const char** over = c_list(oversigned_headers());
    if (dkim_options(lib_, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, sign, sizeof sign) != DKIM_STAT_OK ||
        dkim_options(lib_, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS, over, sizeof over) != DKIM_STAT_OK) {
        dkim_close(lib_);
        lib_ = nullptr;
        lib_fail("dkim_options(SIGNHDRS/OVERSIGNHDRS) failed");
    }
}

DkimLibrary::~DkimLibrary() {
    if (lib_) dkim_close(lib_);
}

bool DkimLibrary::has_ed25519() const {
    return dkim_libfeature(lib_, DKIM_FEATURE_ED25519);
}

DkimSigner::DkimSigner(const DkimLibrary& lib, const std::string& id, const std::string& pem,
                       const std::string& domain, const std::string& selector, KeyAlgorithm alg)
    : selector_(selector), alg_(alg) {
    if (pem.rfind("-----", 0) != 0 || pem.find('\0') != std::string::npos)
        lib_fail("DKIM key for " + selector + "._domainkey." + domain + " is not a PEM key");
    if (alg == KeyAlgorithm::ed25519 && !lib.has_ed25519())
        lib_fail("this libopendkim cannot sign with ed25519");
    DKIM_STAT st = DKIM_STAT_OK;
    const std::string ident = id.empty() ? "outpost" : id;
    DKIM* d = dkim_sign(
        lib.get(), reinterpret_cast<const unsigned char*>(ident.c_str()), nullptr,
        reinterpret_cast<dkim_sigkey_t>(const_cast<char*>(pem.c_str())),
        reinterpret_cast<const unsigned char*>(selector.c_str()),
        reinterpret_cast<const unsigned char*>(domain.c_str()), DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
        alg == KeyAlgorithm::ed25519 ? DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256, -1, &st);
    if (!d) lib_fail(std::string("dkim_sign failed: ") + dkim_getresultstr(st));
    dkim_.reset(d);
}

void DkimSigner::fail(const char* call, DKIM_STAT st) const {
    const char* detail = dkim_geterror(dkim_.get());
    lib_fail(std::string(call) + " failed for selector " + selector_ + ": " + dkim_getresultstr(st) +
             (detail && *detail ? std::string(" (") + detail + ")" : std::string()));
}

void DkimSigner::header(std::string_view name, std::string_view value) {
    scratch_.assign(name);
    scratch_ += ':';
    for (size_t i = 0; i < value.size(); ++i) {
        char c = value[i];
        if (c == '\n' && (i == 0 || value[i - 1] != '\r')) scratch_ += '\r';
        scratch_ += c;
    }
    DKIM_STAT st = dkim_header(dkim_.get(), reinterpret_cast<u_char*>(scratch_.data()), scratch_.size());
    if (st != DKIM_STAT_OK) fail("dkim_header", st);
}

void DkimSigner::end_of_headers() {
    DKIM_STAT st = dkim_eoh(dkim_.get());
    if (st != DKIM_STAT_OK) fail("dkim_eoh", st);
}

void DkimSigner::body(const unsigned char* data, size_t len) {
    if (len == 0) return;
    body_seen_ = true;
    ends_crlf_ = len >= 2 ? (data[len - 2] == '\r' && data[len - 1] == '\n') : (data[0] == '\n' && last_cr_);
    last_cr_ = data[len - 1] == '\r';
    DKIM_STAT st = dkim_body(dkim_.get(), const_cast<u_char*>(data), len);
    if (st != DKIM_STAT_OK) fail("dkim_body", st);
}

std::string DkimSigner::finish() {
    // A body always reaches its recipient ending in CRLF (SMTP's DATA needs
    // it; MTAs add it); libopendkim insists on seeing it.
    if (body_seen_ && !ends_crlf_) {
        static const unsigned char crlf[] = {'\r', '\n'};
        body(crlf, 2);
    }
    DKIM_STAT st = dkim_eom(dkim_.get(), nullptr);
    if (st != DKIM_STAT_OK) fail("dkim_eom", st);
    u_char* buf = nullptr;
    size_t len = 0;
    // The first line already holds "DKIM-Signature: ".
    st = dkim_getsighdr_d(dkim_.get(), sizeof("DKIM-Signature: ") - 1, &buf, &len);
    if (st != DKIM_STAT_OK || !buf) fail("dkim_getsighdr_d", st);
    std::string out;
    out.reserve(len);
    for (size_t i = 0; i < len; ++i)
        if (buf[i] != '\r') out += static_cast<char>(buf[i]);
    return out;
}

}  // namespace outpost::milter
