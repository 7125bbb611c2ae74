// milter_fixture.h - what the milter's unit tests share: a store in a temp
// directory with verified domains and keys (set up through Admin, as
// outpostctl would), a Runtime over it, a recording MtaActions, the pipeline
// driven without libmilter, and DKIM verification with libopendkim against
// the store's public keys (a key file instead of DNS).
#pragma once

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "control/lib/admin.h"
#include "milter/context.h"
#include "milter/dkim_signer.h"

#define _Bool bool  // NOLINT(bugprone-reserved-identifier): dkim.h is C
#include <opendkim/dkim.h>
#undef _Bool
#include "milter/pipeline.h"
#include "milter/runtime.h"
#include "store/tokens.h"
#include "testutil.h"

namespace outpost::test {

// Records what the pipeline asked the MTA to do, and applies it to a header
// list the way Postfix does (added headers at the end, inserted at index).
class RecordingMta : public milter::MtaActions {
public:
    std::vector<milter::Header> headers;  // the message's headers, updated
    std::vector<std::string> deleted_rcpts, added_rcpts;
    std::string quarantined;
    std::vector<std::string> log;
    bool fail_add_header = false;

    bool add_header(const std::string& n, const std::string& v) override {
        log.push_back("add " + n);
        if (fail_add_header) return false;
        headers.push_back({n, v});
        return true;
    }
    bool insert_header(int i, const std::string& n, const std::string& v) override {
        log.push_back("insert " + n);
        headers.insert(headers.begin() + i, {n, v});
        return true;
    }
    bool delete_header(const std::string& n, int idx) override {
        log.push_back("delete " + n + " " + std::to_string(idx));
        int seen = 0;
        for (auto it = headers.begin(); it != headers.end(); ++it)
            if (milter::header_is(it->name, n.c_str()) && ++seen == idx) {
                headers.erase(it);
                return true;
            }
        return true;  // like the MTA: deleting a missing header is not an error
    }
    bool change_header(const std::string& n, int idx, const std::string& v) override {
        log.push_back("change " + n + " " + std::to_string(idx));
        int seen = 0;
        for (auto& h : headers)
            if (milter::header_is(h.name, n.c_str()) && ++seen == idx) {
                h.value = v;
                return true;
            }
        return false;
    }
    bool delete_rcpt(const std::string& r) override {
        deleted_rcpts.push_back(r);
        return true;
    }
    bool add_rcpt(const std::string& r) override {
        added_rcpts.push_back(r);
        return true;
    }
    bool quarantine(const std::string& reason) override {
        quarantined = reason;
        return true;
    }
    bool replace_body(const std::string& b) override {
        log.push_back("replace body");
        replaced_body = b;
        body_replaced = true;
        return true;
    }
    bool can_replace_body() const override { return allow_body_change; }
    bool change_from(const std::string& a) override {
        log.push_back("chgfrom " + a);
        new_from = a;
        return true;
    }
    bool can_change_from() const override { return true; }
    std::string new_from;
    std::string replaced_body;
    bool body_replaced = false;
    bool allow_body_change = true;
};

inline AddKeyOptions sasl_key(const std::string& login, bool sandbox = false) {
    AddKeyOptions o;
    o.sasl = login;
    o.sandbox = sandbox;
    return o;
}
inline AddKeyOptions cidr_key(const std::string& cidr) {
    AddKeyOptions o;
    o.cidrs = {cidr};
    return o;
}
inline AddKeyOptions tenant_key(const std::string& tenant, const std::string& login) {
    AddKeyOptions o = sasl_key(login);
    o.tenant = tenant;
    return o;
}
inline AddKeyOptions allow_key(const std::string& login, const std::string& domain) {
    AddKeyOptions o = sasl_key(login);
    o.allow = {domain};
    return o;
}
inline SetDomainOptions active(bool on) {
    SetDomainOptions o;
    o.active = on;
    return o;
}
inline SetDomainOptions unsubscribe(bool on) {
    SetDomainOptions o;
    o.unsubscribe = on;
    return o;
}

struct MilterFixture {
    TempDir dir;
    Config cfg;
    std::unique_ptr<Admin> admin;
    std::shared_ptr<const milter::Runtime> rt;

    explicit MilterFixture(const std::string& extra_yaml = "") {
        cfg = test_config(
            dir.path, "tracking:\n  host: t.relay.test\n  secret_file: " + dir.path +
                          "/tracking.key\nrelay:\n  hostname: relay.test\n" +
                          (extra_yaml.find("warmup:") == std::string::npos ? "warmup:\n  days: 0\n" : "") +
                          extra_yaml);
        tracking_secret_init(cfg.tracking.secret_file);
        admin = std::make_unique<Admin>(cfg);
    }

    // A domain as `domain verify` leaves it: verified, selectors active.
    Domain add_verified(const std::string& name, const std::string& algorithm = "rsa",
                        const std::string& tenant = "", bool shared = false) {
        AddDomainOptions o;
        o.algorithm = algorithm;
        o.tenant = tenant;
        o.shared = shared;
        Domain d = admin->add_domain(name, o);
        d.status = DomainStatus::verified;
        d.verified_at = now_seconds();
        for (auto& s : d.selectors) {
            s.state = SelectorState::active;
            s.activated_at = d.verified_at;
        }
        admin->save_domain(d);
        return d;
    }

    std::string add_key(const std::string& name, const AddKeyOptions& o = {}) {
        return admin->add_key(name, o).second;
    }

    // The milter's view, opened read-only as the daemon does.
    const milter::Runtime& runtime() {
        if (!rt) rt = milter::make_runtime(std::make_shared<const Config>(cfg), nullptr);
        return *rt;
    }
};

// One message through the pipeline, as libmilter would drive it.
struct Delivery {
    milter::StageResult eoh, eom;
    RecordingMta mta;
    milter::Transaction txn;
    std::string body;

    // The message as delivered: headers after the MTA applied the changes.
    std::string delivered() const {
        std::string out;
        for (const auto& h : mta.headers) {
            out += h.name + ":";
            // values added by the milter carry no leading space (no LEADSPC)
            if (h.value.empty() || (h.value[0] != ' ' && h.value[0] != '\t')) out += " ";
            for (size_t i = 0; i < h.value.size(); ++i) {
                if (h.value[i] == '\n' && (i == 0 || h.value[i - 1] != '\r')) out += '\r';
                out += h.value[i];
            }
            out += "\r\n";
        }
        return out + "\r\n" + body;
    }
};

struct Send {
    std::vector<std::pair<std::string, std::string>> headers;  // values with leading space
    std::vector<std::string> rcpts = {"<rcpt@example.net>"};
    std::string body = "Hello.\r\n";
    std::string sasl;
    std::string mail_from = "<app@example.com>";
    std::string client = "192.0.2.99";
    std::string queue_id = "4QTEST";
    int64_t now = 0;
    size_t chunk = 7;  // body streamed in small chunks
    bool mta_allows_body_change = true;  // SMFIF_CHGBODY negotiated
    bool sendmail = false;               // the MTA is Sendmail (macro v)
};

inline Delivery send_message(const milter::Runtime& rt, const Send& s) {
    Delivery d;
    milter::Session session;
    session.rt = std::shared_ptr<const milter::Runtime>(&rt, [](const milter::Runtime*) {});
    session.client_addr = s.client;
    session.sendmail = s.sendmail;
    session.txn.open = true;
    session.txn.queue_id = s.queue_id;
    session.txn.sasl_login = s.sasl;
    session.txn.mail_from = s.mail_from;
    session.txn.rcpts = s.rcpts;
    for (const auto& [n, v] : s.headers) {
        session.txn.headers.push_back({n, v});
        d.mta.headers.push_back({n, v});
    }
    const int64_t now = s.now ? s.now : now_seconds();
    milter::Message m{rt, session, session.txn, now, nullptr, nullptr};
    d.eoh = milter::pipeline().end_of_headers(m);
    d.body = s.body;
    if (!d.eoh.is_next()) {
        d.txn = std::move(session.txn);
        return d;
    }
    for (size_t off = 0; off < s.body.size(); off += s.chunk) {
        const std::string part = s.body.substr(off, s.chunk);
        milter::pipeline().body(m, reinterpret_cast<const unsigned char*>(part.data()), part.size());
    }
    m.mta = &d.mta;
    d.mta.allow_body_change = s.mta_allows_body_change;
    d.eom = milter::pipeline().end_of_message(m);
    if (d.mta.body_replaced) d.body = d.mta.replaced_body;
    d.txn = std::move(session.txn);
    return d;
}

// Verifies every DKIM signature of `message` with libopendkim, looking keys
// up in a key file written from the store (name TXT-value per line).
// Returns one "selector:ok" / "selector:fail" entry per signature.
inline std::vector<std::string> verify_dkim(const std::string& message, const std::vector<Domain>& domains,
                                            const std::string& keyfile) {
    {
        std::ofstream f(keyfile);
        for (const auto& d : domains)
            for (const auto& s : d.selectors)
                f << s.name << "._domainkey." << d.name << " " << dkim_txt_value(s.algorithm, s.public_key)
                  << "\n";
    }
    DKIM_LIB* lib = dkim_init(nullptr, nullptr);
    dkim_query_t qtype = DKIM_QUERY_FILE;
    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYMETHOD, &qtype, sizeof qtype);
    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYINFO, const_cast<char*>(keyfile.c_str()),
                 keyfile.size());
    DKIM_STAT st;
    DKIM* v = dkim_verify(lib, reinterpret_cast<const unsigned char*>("test"), nullptr, &st);
    const size_t split = message.find("\r\n\r\n");
    const std::string head = message.substr(0, split + 2), body = message.substr(split + 4);
    // Header fields: a line plus its continuation lines.
    std::string field;
    std::istringstream in(head);
    std::string line;
    std::vector<std::string> fields;
    for (size_t pos = 0; pos < head.size();) {
        size_t e = head.find("\r\n", pos);
        line = head.substr(pos, e - pos);
        pos = e + 2;
        if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
            fields.back() += "\r\n" + line;
        } else {
            fields.push_back(line);
        }
    }
    for (auto& f : fields) dkim_header(v, reinterpret_cast<u_char*>(f.data()), f.size());
    dkim_eoh(v);
    std::string b = body;
    dkim_body(v, reinterpret_cast<u_char*>(b.data()), b.size());
    dkim_eom(v, nullptr);
    DKIM_SIGINFO** sigs = nullptr;
    int nsigs = 0;
    std::vector<std::string> out;
    if (dkim_getsiglist(v, &sigs, &nsigs) == DKIM_STAT_OK)
        for (int i = 0; i < nsigs; ++i) {
            if (!(dkim_sig_getflags(sigs[i]) & DKIM_SIGFLAG_PROCESSED)) dkim_sig_process(v, sigs[i]);
            out.push_back(std::string(reinterpret_cast<char*>(dkim_sig_getselector(sigs[i]))) + ":" +
                          (DKIM_SIG_CHECK(sigs[i]) ? "ok" : "fail"));
        }
    dkim_free(v);
    dkim_close(lib);
    return out;
}

}  // namespace outpost::test
