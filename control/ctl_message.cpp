// ctl_message.cpp - `outpostctl message verify FILE|- [--json]`.
//
// Checks every DKIM signature of a delivered message (a file saved from a
// mailbox, or standard input) with libopendkim, an implementation other
// than outpost's own signer, fetching the keys through outpost's resolver
// (dns.upstream, dns.timeout, dns.trust_anchor), one line per signature:
//
//   dkim=pass d=example.com s=s202612a a=rsa-sha256 bits=2048
//   dkim=fail d=example.com s=s202612b a=ed25519-sha256 reason="body hash did not verify"
//
// Exit status 0 when there is at least one signature and every one passes,
// 7 when one fails or there is none (as for `domain verify`).
#include <cstdio>
#include <cstring>
#include <map>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#define _Bool bool  // NOLINT(bugprone-reserved-identifier): dkim.h is C
#include <opendkim/dkim.h>
#undef _Bool

#include "control/ctl.h"
#include "dns/resolver.h"
#include "base/log.h"

namespace outpost::ctl {
namespace {

struct Lookup {
    dns::Resolver* resolver = nullptr;
    std::map<std::string, std::string> why;  // selector._domainkey.domain -> DNS problem
};

// libopendkim's key look-up, answered by outpost's resolver.
DKIM_CBSTAT key_lookup(DKIM* dkim, DKIM_SIGINFO* sig, u_char* buf, size_t buflen) noexcept {
    auto* l = static_cast<Lookup*>(dkim_get_user_context(dkim));
    const char* sel = reinterpret_cast<const char*>(dkim_sig_getselector(sig));
    const char* dom = reinterpret_cast<const char*>(dkim_sig_getdomain(sig));
    if (!l || !sel || !dom) return DKIM_CBSTAT_ERROR;
    const std::string name = std::string(sel) + "._domainkey." + dom;
    try {
        dns::Answer a = l->resolver->resolve(dns::Query{name, dns::RRType::TXT});
        if (a.absent()) {
            l->why[name] = name + " has no TXT record";
            return DKIM_CBSTAT_NOTFOUND;
        }
        if (!a.ok() || a.values.empty()) {
            l->why[name] = name + ": " + dns::to_string(a.rcode) + (a.why.empty() ? "" : " (" + a.why + ")");
            return DKIM_CBSTAT_TRYAGAIN;
        }
        if (a.dnssec == dns::Dnssec::bogus) {
            l->why[name] = name + ": DNSSEC bogus (" + a.why + ")";
            return DKIM_CBSTAT_ERROR;
        }
        const std::string& txt = a.values.front();
        if (txt.size() + 1 > buflen) return DKIM_CBSTAT_ERROR;
        std::memcpy(buf, txt.c_str(), txt.size() + 1);
        return DKIM_CBSTAT_CONTINUE;
    } catch (...) {
        return DKIM_CBSTAT_ERROR;
    }
}

std::string read_message(const std::string& file) {
    std::string data;
    if (file == "-") {
        data.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
        std::ifstream f(file, std::ios::binary);
        if (!f)
            throw Error(Exit::not_found, "FILE_UNREADABLE",
                        file + ": cannot be read (no such file, or no permission); give the path of a saved "
                               "message, or - to read it from standard input");
        data.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
    // A mailbox file may hold LF line ends, and an mbox "From " line.
    if (data.rfind("From ", 0) == 0) data.erase(0, data.find('\n') + 1);
    std::string out;
    out.reserve(data.size() + data.size() / 32);
    for (size_t i = 0; i < data.size(); ++i) {
        if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r')) out += '\r';
        out += data[i];
    }
    return out;
}

void verify(Context& ctx, const std::string& file) {
    const std::string msg = read_message(file);
    size_t split = msg.find("\r\n\r\n");
    if (split == std::string::npos) {
        if (msg.size() >= 2 && msg.compare(msg.size() - 2, 2, "\r\n") == 0) split = msg.size() - 2;
        else
            throw Error(Exit::usage, "MESSAGE_INVALID",
                        file + ": no header section (no empty line after the headers); give the whole message "
                               "as delivered: headers, an empty line, the body");
    }
    const std::string head = msg.substr(0, split + 2);
    std::string body = split + 4 <= msg.size() ? msg.substr(split + 4) : std::string();

    dns::Resolver resolver(dns::resolver_options(ctx.config()));
    Lookup lookup{&resolver, {}};
    std::unique_ptr<DKIM_LIB, void (*)(DKIM_LIB*)> lib(dkim_init(nullptr, nullptr), dkim_close);
    if (!lib) throw Error(Exit::environment, "DKIM_ERROR", "dkim_init failed");
    dkim_set_key_lookup(lib.get(), key_lookup);
    DKIM_STAT st = DKIM_STAT_OK;
    std::unique_ptr<DKIM, DKIM_STAT (*)(DKIM*)> v(
        dkim_verify(lib.get(), reinterpret_cast<const unsigned char*>("outpostctl"), nullptr, &st), dkim_free);
    if (!v) throw Error(Exit::environment, "DKIM_ERROR", std::string("dkim_verify: ") + dkim_getresultstr(st));
    dkim_set_user_context(v.get(), &lookup);
    for (size_t pos = 0; pos < head.size();) {
        size_t e = head.find("\r\n", pos);
        size_t next = e + 2;
        while (next < head.size() && (head[next] == ' ' || head[next] == '\t')) {
            e = head.find("\r\n", next);
            next = e + 2;
        }
        std::string field = head.substr(pos, e - pos);
        pos = next;
        if (field.find(':') == std::string::npos) continue;  // not a header field
        dkim_header(v.get(), reinterpret_cast<u_char*>(field.data()), field.size());
    }
    dkim_eoh(v.get());
    if (!body.empty()) dkim_body(v.get(), reinterpret_cast<u_char*>(body.data()), body.size());
    dkim_eom(v.get(), nullptr);

    DKIM_SIGINFO** sigs = nullptr;
    int nsigs = 0;
    if (dkim_getsiglist(v.get(), &sigs, &nsigs) != DKIM_STAT_OK) nsigs = 0;
    nlohmann::json all = nlohmann::json::array();
    bool ok = nsigs > 0;
    for (int i = 0; i < nsigs; ++i) {
        DKIM_SIGINFO* s = sigs[i];
        if (!(dkim_sig_getflags(s) & DKIM_SIGFLAG_PROCESSED)) dkim_sig_process(v.get(), s);
        const bool pass = DKIM_SIG_CHECK(s);
        const char* d = reinterpret_cast<const char*>(dkim_sig_getdomain(s));
        const char* sel = reinterpret_cast<const char*>(dkim_sig_getselector(s));
        const std::string domain = d ? d : "", selector = sel ? sel : "";
        dkim_alg_t alg = DKIM_SIGN_UNKNOWN;
        dkim_sig_getsignalg(s, &alg);
        const char* alg_name = alg == DKIM_SIGN_RSASHA256   ? "rsa-sha256"
                               : alg == DKIM_SIGN_ED25519SHA256 ? "ed25519-sha256"
                               : alg == DKIM_SIGN_RSASHA1   ? "rsa-sha1"
                                                            : "unknown";
        unsigned int bits = 0;
        dkim_sig_getkeysize(s, &bits);
        std::string reason;
        if (!pass) {
            const int err = dkim_sig_geterror(s);
            const auto dns_why = lookup.why.find(selector + "._domainkey." + domain);
            if (dns_why != lookup.why.end())
                reason = dns_why->second;
            else if (dkim_sig_getbh(s) == DKIM_SIGBH_MISMATCH)
                reason = "body hash did not verify (the body changed after signing)";
            else if (err != DKIM_SIGERROR_OK)
                reason = dkim_sig_geterrorstr(err);
            else
                reason = "signature did not verify";
            ok = false;
        }
        nlohmann::json j = {{"result", pass ? "pass" : "fail"}, {"domain", domain}, {"selector", selector},
                            {"algorithm", alg_name}};
        if (bits) j["bits"] = bits;
        if (!reason.empty()) j["reason"] = reason;
        all.push_back(j);
        if (!ctx.json) {
            std::cout << "dkim=" << (pass ? "pass" : "fail") << " d=" << domain << " s=" << selector << " a="
                      << alg_name;
            if (bits && alg != DKIM_SIGN_ED25519SHA256) std::cout << " bits=" << bits;
            if (!reason.empty()) std::cout << " reason=" << log_value(reason);
            std::cout << '\n';
        }
    }
    if (ctx.json) {
        std::cout << all.dump(2) << '\n';
    } else if (nsigs == 0) {
        std::cout << "dkim=none: " << (file == "-" ? std::string("the message") : file)
                  << " has no DKIM-Signature header\n";
    }
    if (!ok) ctx.exit_status = static_cast<int>(Exit::unverified);
}

}  // namespace

void register_message_commands(CLI::App& app, Context& ctx) {
    auto* message = app.add_subcommand("message", "check a delivered message");
    message->require_subcommand(1);
    auto* v = message->add_subcommand(
        "verify", "check every DKIM signature of a delivered message with libopendkim (keys from DNS)");
    static std::string file;
    v->add_option("FILE", file, "the message (a file, or - for standard input)")->required();
    v->add_flag("--json", ctx.json, "JSON output");
    v->callback([&ctx] { verify(ctx, file); });
}

}  // namespace outpost::ctl
