// callbacks.cpp - libmilter callbacks: sessions, transactions, replies, logs.
#include "milter/callbacks.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>

#include "milter/latency.h"
#include "milter/pipeline.h"
#include "milter/sendmail_headers.h"
#include "base/log.h"
#include "store/stats.h"

namespace outpost::milter {
namespace {

std::mutex g_runtime_mu;
std::shared_ptr<const Runtime> g_runtime;
std::atomic<int> g_in_progress{0};
std::atomic<bool> g_draining{false};

constexpr size_t kMaxHeaderBytes = size_t(4) << 20;

Session* session_of(SMFICTX* ctx) noexcept {
    return static_cast<Session*>(smfi_getpriv(ctx));
}

Session* ensure_session(SMFICTX* ctx) {
    Session* s = session_of(ctx);
    if (!s) {
        s = new Session;
        s->rt = current_runtime();
        smfi_setpriv(ctx, s);
    }
    return s;
}

std::string macro(SMFICTX* ctx, const char* name) {
    const char* v = smfi_getsymval(ctx, const_cast<char*>(name));
    return v ? v : "";
}

std::string qid(const Transaction& t) {
    return t.queue_id.empty() ? "NOQUEUE" : t.queue_id;
}

void refresh_queue_id(SMFICTX* ctx, Transaction& t) {
    if (t.queue_id.empty()) t.queue_id = macro(ctx, "i");
}

sfsistat no_reply(const Session* s, unsigned long step) {
    return s && (s->protocol & step) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

sfsistat reply(SMFICTX* ctx, const StageResult& r) {
    MilterReply m = map_result(r);
    if (m.set_reply)
        smfi_setreply(ctx, const_cast<char*>(m.code.c_str()), const_cast<char*>(m.xcode.c_str()),
                      const_cast<char*>(m.message.c_str()));
    return m.status;
}

// The error paths of the callbacks below: they log (which allocates), so
// they catch what that throws themselves and fall back to a fixed reply —
// nothing may unwind through libmilter's C frames.
sfsistat fixed_tempfail(SMFICTX* ctx) noexcept {
    static char code[] = "451", xcode[] = "4.3.0",
                text[] = "INTERNAL_ERROR outpost cannot process this message now; try again later";
    smfi_setreply(ctx, code, xcode, text);
    return SMFIS_TEMPFAIL;
}

sfsistat internal_error(SMFICTX* ctx, const char* where, const char* what) noexcept {
    try {
        log_error(std::string("callback=") + where + " error=" + log_value(what ? what : "unknown"));
        return reply(ctx, StageResult::internal("INTERNAL_ERROR",
                                                "outpost cannot process this message now; try again later"));
    } catch (...) {
        return fixed_tempfail(ctx);
    }
}

// A failure in a step negotiated without a reply waits for end of headers.
sfsistat defer_error(SMFICTX* ctx, unsigned long step, const char* where, const char* what) noexcept {
    Session* s = session_of(ctx);
    if (s && (s->protocol & step)) {
        try {
            log_error(std::string("callback=") + where + " error=" + log_value(what ? what : "unknown"));
            if (s->txn.deferred.is_next())
                s->txn.deferred = StageResult::internal(
                    "INTERNAL_ERROR", "outpost cannot process this message now; try again later");
        } catch (...) {
            s->txn.deferred.verdict = StageResult::Verdict::tempfail;  // reported at end of headers
        }
        return SMFIS_NOREPLY;
    }
    return internal_error(ctx, where, what);
}

// A transaction counts as in progress from MAIL FROM to its end. While
// draining, a new one is refused (at end of headers: MAIL has no reply) and
// not counted, so a busy connection cannot keep the drain from ending.
void open_transaction(Session& s) {
    if (s.txn.open && s.txn.counted) g_in_progress.fetch_sub(1);
    s.txn = Transaction{};
    s.txn.open = true;
    if (g_draining.load()) {
        s.txn.deferred = StageResult::refuse("421", "4.3.2", "SHUTTING_DOWN",
                                             "outpost is restarting; try again in a moment");
        return;
    }
    s.txn.counted = true;
    g_in_progress.fetch_add(1);
}

void close_transaction(Session& s) noexcept {
    if (s.txn.open && s.txn.counted) g_in_progress.fetch_sub(1);
    s.txn = Transaction{};
}

// A refusal of a known domain's mail counts in its day's stats (accepted
// mail is counted by the warmup reservation). Soft state: a failed write
// is logged and the reply goes out as decided.
void count_refusal(const Session& s, const Transaction& t, const StageResult& r) {
    if (r.verdict != StageResult::Verdict::reject && r.verdict != StageResult::Verdict::tempfail) return;
    if (!t.domain || r.token.empty()) return;
    try {
        s.rt->store->update_counters([&](lmdb::WriteTxn& w) {
            s.rt->store->add_stat(w, t.domain->name, utc_day(std::time(nullptr)), stats::rejected(r.token), 1);
            return true;
        });
    } catch (const std::exception& e) {
        counters_errors().fetch_add(1, std::memory_order_relaxed);
        log_warning(qid(t) + ": stats error=" + log_value(e.what()));
    }
}

void log_decision(const Session& s, const Transaction& t, const StageResult& r) {
    count_refusal(s, t, r);
    LogLine l(qid(t));
    if (r.is_next()) {
        l.kv("decision", t.sandbox ? "sandbox" : "accept");
    } else if (r.verdict == StageResult::Verdict::accept) {
        l.kv("decision", "pass");
        l.kv("reason", r.token);
    } else {
        l.kv("decision", r.verdict == StageResult::Verdict::reject ? "reject" : "tempfail");
        l.kv("reply", r.code + " " + r.xcode);
        l.kv("reason", r.token);
    }
    if (t.domain)
        l.kv("domain", t.domain->name);
    else if (!t.from_address.empty())
        l.kv("from", t.from_address);
    l.kv("key", t.key ? t.key->name : "-");
    l.kv("identity", t.identity);
    if (!s.client_addr.empty()) l.kv("client", s.client_addr);
    l.kv("rcpts", static_cast<long long>(t.delivered()));
    if (!t.suppressed.empty()) l.kv("suppressed", static_cast<long long>(t.suppressed.size()));
    if (r.is_next()) {
        std::string sel;
        for (const auto& x : t.signed_with) sel += (sel.empty() ? "" : ",") + x;
        l.kv("signed", sel.empty() ? "-" : sel);
        if (!t.tracked.empty()) l.kv("tracked", t.tracked);
        if (!t.return_path.empty()) l.kv("return_path", t.return_path);
    } else if (!r.text.empty()) {
        l.kv("text", r.text);
    }
    log_info(l.str());
}

std::string address_text(const sockaddr* sa) {
    if (!sa) return "";
    char buf[INET6_ADDRSTRLEN] = {0};
    if (sa->sa_family == AF_INET) {
        auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        if (inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf)) return buf;
    } else if (sa->sa_family == AF_INET6) {
        auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            if (inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], buf, sizeof buf)) return buf;
        } else if (inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf)) {
            return buf;
        }
    }
    return "";
}

Message message(Session& s) {
    return Message{*s.rt, s, s.txn, static_cast<int64_t>(std::time(nullptr)), nullptr, nullptr};
}

// ---- the shims -----------------------------------------------------------

extern "C" sfsistat op_negotiate(SMFICTX* ctx, unsigned long f0, unsigned long f1, unsigned long,
                                 unsigned long, unsigned long* pf0, unsigned long* pf1, unsigned long* pf2,
                                 unsigned long* pf3) noexcept {
    try {
        Session* s = ensure_session(ctx);
        if (g_draining.load()) {
            // The MTA treats a milter that fails negotiation as unavailable:
            // with milter_default_action = tempfail the client retries later.
            log_info("draining: refusing a new connection");
            return SMFIS_REJECT;
        }
        if ((f0 & kRequiredActions) != kRequiredActions) {
            log_error(
                "the MTA does not offer the actions outpost needs (add/change headers, "
                "add/delete recipients); refusing the connection");
            return SMFIS_REJECT;
        }
        *pf0 = f0 & kWantedActions;
        s->actions = *pf0;
        *pf1 = f1 & (kSkipSteps | kNoReplySteps | SMFIP_HDR_LEADSPC);
        *pf2 = 0;
        *pf3 = 0;
        s->protocol = *pf1;
        s->leading_space = (*pf1 & SMFIP_HDR_LEADSPC) != 0;
        if (f0 & SMFIF_SETSYMLIST) request_macros(ctx);
        return SMFIS_CONTINUE;
    } catch (const std::exception& e) {
        log_error(std::string("callback=negotiate error=") + log_value(e.what()));
        return SMFIS_TEMPFAIL;
    } catch (...) {
        return SMFIS_TEMPFAIL;
    }
}

extern "C" sfsistat op_connect(SMFICTX* ctx, char* hostname, _SOCK_ADDR* hostaddr) noexcept {
    try {
        Session* s = ensure_session(ctx);
        s->client_addr = address_text(hostaddr);
        if (s->client_addr.empty()) s->client_addr = macro(ctx, "{client_addr}");
        s->client_name = hostname ? hostname : "";
        s->sendmail = is_sendmail_version(macro(ctx, "v"));
        return no_reply(s, SMFIP_NR_CONN);
    } catch (const std::exception& e) {
        return defer_error(ctx, SMFIP_NR_CONN, "connect", e.what());
    } catch (...) {
        return defer_error(ctx, SMFIP_NR_CONN, "connect", nullptr);
    }
}

extern "C" sfsistat op_envfrom(SMFICTX* ctx, char** argv) noexcept {
    try {
        Session* s = ensure_session(ctx);
        open_transaction(*s);
        ++s->messages;
        Transaction& t = s->txn;
        t.mail_from = argv && argv[0] ? argv[0] : "";
        t.sasl_login = macro(ctx, "{auth_authen}");
        refresh_queue_id(ctx, t);
        return no_reply(s, SMFIP_NR_MAIL);
    } catch (const std::exception& e) {
        return defer_error(ctx, SMFIP_NR_MAIL, "envfrom", e.what());
    } catch (...) {
        return defer_error(ctx, SMFIP_NR_MAIL, "envfrom", nullptr);
    }
}

extern "C" sfsistat op_envrcpt(SMFICTX* ctx, char** argv) noexcept {
    try {
        Session* s = ensure_session(ctx);
        if (argv && argv[0]) s->txn.rcpts.emplace_back(argv[0]);
        return no_reply(s, SMFIP_NR_RCPT);
    } catch (const std::exception& e) {
        return defer_error(ctx, SMFIP_NR_RCPT, "envrcpt", e.what());
    } catch (...) {
        return defer_error(ctx, SMFIP_NR_RCPT, "envrcpt", nullptr);
    }
}

extern "C" sfsistat op_header(SMFICTX* ctx, char* name, char* value) noexcept {
    try {
        Session* s = ensure_session(ctx);
        Transaction& t = s->txn;
        const size_t n = std::strlen(name ? name : "") + std::strlen(value ? value : "");
        if (t.header_bytes + n > kMaxHeaderBytes) {
            if (t.deferred.is_next())
                t.deferred = StageResult::refuse("552", "5.3.4", "HEADERS_TOO_LARGE",
                                                 "the message header is larger than outpost accepts");
        } else {
            t.header_bytes += n;
            t.headers.push_back({name ? name : "", value ? value : ""});
        }
        return no_reply(s, SMFIP_NR_HDR);
    } catch (const std::exception& e) {
        return defer_error(ctx, SMFIP_NR_HDR, "header", e.what());
    } catch (...) {
        return defer_error(ctx, SMFIP_NR_HDR, "header", nullptr);
    }
}

extern "C" sfsistat op_eoh(SMFICTX* ctx) noexcept {
    try {
        Session* s = ensure_session(ctx);
        Transaction& t = s->txn;
        refresh_queue_id(ctx, t);
        Message m = message(*s);
        StageResult r = pipeline().end_of_headers(m);
        if (!r.is_next()) {
            log_decision(*s, t, r);
            close_transaction(*s);
        }
        return reply(ctx, r);
    } catch (const std::exception& e) {
        return internal_error(ctx, "eoh", e.what());
    } catch (...) {
        return internal_error(ctx, "eoh", nullptr);
    }
}

extern "C" sfsistat op_body(SMFICTX* ctx, unsigned char* data, size_t len) noexcept {
    try {
        Session* s = ensure_session(ctx);
        Message m = message(*s);
        pipeline().body(m, data, len);
        return no_reply(s, SMFIP_NR_BODY);
    } catch (const std::exception& e) {
        return defer_error(ctx, SMFIP_NR_BODY, "body", e.what());
    } catch (...) {
        return defer_error(ctx, SMFIP_NR_BODY, "body", nullptr);
    }
}

extern "C" sfsistat op_eom(SMFICTX* ctx) noexcept {
    try {
        Session* s = ensure_session(ctx);
        Transaction& t = s->txn;
        refresh_queue_id(ctx, t);
        MilterActions actions(ctx, s->leading_space, s->actions);
        Message m = message(*s);
        m.mta = &actions;
        const auto t0 = std::chrono::steady_clock::now();
        StageResult r = pipeline().end_of_message(m);
        eom_latency().record(std::chrono::steady_clock::now() - t0);
        log_decision(*s, t, r);
        close_transaction(*s);
        return reply(ctx, r);
    } catch (const std::exception& e) {
        if (Session* s = session_of(ctx)) close_transaction(*s);
        return internal_error(ctx, "eom", e.what());
    } catch (...) {
        if (Session* s = session_of(ctx)) close_transaction(*s);
        return internal_error(ctx, "eom", nullptr);
    }
}

// DATA: nothing to decide, but answering it matters over TCP (see the
// note at kSkipSteps).
extern "C" sfsistat op_data(SMFICTX*) noexcept {
    return SMFIS_CONTINUE;
}

extern "C" sfsistat op_abort(SMFICTX* ctx) noexcept {
    try {
        if (Session* s = session_of(ctx)) close_transaction(*s);
    } catch (...) {
    }
    return SMFIS_CONTINUE;
}

extern "C" sfsistat op_close(SMFICTX* ctx) noexcept {
    try {
        if (Session* s = session_of(ctx)) {
            close_transaction(*s);
            smfi_setpriv(ctx, nullptr);
            delete s;
        }
    } catch (...) {
    }
    return SMFIS_CONTINUE;
}

}  // namespace

void request_macros(SMFICTX* ctx) {
    // v: the MTA's version, which tells Sendmail (stages/sendmail.h).
    smfi_setsymlist(ctx, SMFIM_CONNECT, const_cast<char*>("{client_addr} {daemon_name} v"));
    smfi_setsymlist(ctx, SMFIM_ENVFROM, const_cast<char*>("i {auth_authen}"));
    // None at the end of the headers: Postfix sends that list again before
    // every header (a macro packet each); the queue id is known from MAIL
    // FROM on.
    smfi_setsymlist(ctx, SMFIM_EOH, const_cast<char*>(""));
    smfi_setsymlist(ctx, SMFIM_EOM, const_cast<char*>("i"));
}

void set_runtime(std::shared_ptr<const Runtime> rt) {
    std::lock_guard<std::mutex> lock(g_runtime_mu);
    g_runtime = std::move(rt);
}

std::shared_ptr<const Runtime> current_runtime() {
    std::lock_guard<std::mutex> lock(g_runtime_mu);
    return g_runtime;
}

int messages_in_progress() {
    return g_in_progress.load();
}

void set_draining(bool on) {
    g_draining = on;
}
bool draining() {
    return g_draining.load();
}

smfiDesc& filter_description() {
    static smfiDesc desc = {
        const_cast<char*>("outpost"),
        SMFI_VERSION,
        kWantedActions & ~SMFIF_SETSYMLIST,
        op_connect,
        nullptr,  // helo: not needed (SMFIP_NOHELO)
        op_envfrom,
        op_envrcpt,
        op_header,
        op_eoh,
        op_body,
        op_eom,
        op_abort,
        op_close,
        nullptr,  // unknown
        op_data,
        op_negotiate,
    };
    return desc;
}

bool MilterActions::add_header(const std::string& name, const std::string& v) {
    std::string val = value(v);
    return smfi_addheader(ctx_, const_cast<char*>(name.c_str()), val.data()) == MI_SUCCESS;
}

bool MilterActions::insert_header(int index, const std::string& name, const std::string& v) {
    std::string val = value(v);
    return smfi_insheader(ctx_, index, const_cast<char*>(name.c_str()), val.data()) == MI_SUCCESS;
}

bool MilterActions::delete_header(const std::string& name, int index) {
    return smfi_chgheader(ctx_, const_cast<char*>(name.c_str()), index, nullptr) == MI_SUCCESS;
}

bool MilterActions::change_header(const std::string& name, int index, const std::string& v) {
    std::string val = value(v);
    return smfi_chgheader(ctx_, const_cast<char*>(name.c_str()), index, val.data()) == MI_SUCCESS;
}

bool MilterActions::delete_rcpt(const std::string& rcpt) {
    return smfi_delrcpt(ctx_, const_cast<char*>(rcpt.c_str())) == MI_SUCCESS;
}

bool MilterActions::add_rcpt(const std::string& rcpt) {
    return smfi_addrcpt(ctx_, const_cast<char*>(rcpt.c_str())) == MI_SUCCESS;
}

bool MilterActions::quarantine(const std::string& reason) {
    std::string r = reply_text(reason);
    return smfi_quarantine(ctx_, r.data()) == MI_SUCCESS;
}

bool MilterActions::change_from(const std::string& address) {
    std::string a = "<" + address + ">";
    return smfi_chgfrom(ctx_, a.data(), nullptr) == MI_SUCCESS;
}

bool MilterActions::replace_body(const std::string& body) {
    // libmilter sends the body in chunks of its own size; an empty body is
    // one empty replacement.
    auto* p = reinterpret_cast<unsigned char*>(const_cast<char*>(body.data()));
    return smfi_replacebody(ctx_, p, static_cast<int>(body.size())) == MI_SUCCESS;
}

}  // namespace outpost::milter
