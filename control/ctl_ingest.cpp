// ctl_ingest.cpp - `outpostctl ingest ...`: mail that comes back to the
// relay, fed by Postfix pipe transports (contrib/postfix/master.cf.fragment).
//
//   outpostctl ingest unsubscribe [--sender ADDR] < message
//       mail to the List-Unsubscribe mailto address (control/lib/
//       ingest_unsubscribe.h). --sender is the envelope sender
//       (Postfix: ${sender}).
//   outpostctl ingest dsn [--recipient ADDR] < message
//       a bounce (RFC 3464 DSN, or Exim's text bounce) to a VERP return
//       path; --recipient is the envelope recipient (Postfix: ${recipient}),
//       which carries the VERP token (control/lib/ingest_reports.h).
//   outpostctl ingest arf [--recipient ADDR] < message
//       a feedback-loop complaint (RFC 5965 ARF).
//
// Exit status, as a pipe transport needs it: 0 when the mail was used and
// also when it cannot be used (logged with the reason, so Postfix does not
// bounce it back to a stranger); 75 (EX_TEMPFAIL) when outpost's own
// environment fails (store or secret file unreadable or unwritable), so
// Postfix keeps the mail and retries. One line per mail goes to syslog
// (facility log.facility, mail by default; ident outpostctl) and to stderr.
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "control/ctl.h"
#include "control/lib/ingest_reports.h"
#include "control/lib/ingest_unsubscribe.h"
#include "base/error.h"
#include "base/log.h"

namespace outpost::ctl {
namespace {

int g_facility = LOG_MAIL;  // log.facility, once the configuration is read

void log_line(int priority, const std::string& line) {
    openlog("outpostctl", LOG_PID, g_facility);
    syslog(priority, "%s", line.c_str());
    closelog();
    std::fprintf(stderr, "outpostctl: %s\n", line.c_str());
}

std::string read_stdin(bool& truncated) {
    std::string data;
    char buf[65536];
    truncated = false;
    for (;;) {
        const ssize_t n = ::read(0, buf, sizeof buf);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR) continue;
            throw Error(Exit::environment, "STDIN_UNREADABLE",
                        std::string("cannot read the message: ") + strerror(errno));
        }
        if (data.size() + static_cast<size_t>(n) > kMaxIngestBytes) {
            truncated = true;  // keep reading, so the writer sees no EPIPE
            continue;
        }
        data.append(buf, static_cast<size_t>(n));
    }
    return data;
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
    return out;
}

// Reads the message, runs `apply`, and turns an environment fault into
// EX_TEMPFAIL: the one shape of every ingest command.
template <typename Apply>
void run_ingest(Context& ctx, const char* what, Apply apply) {
    try {
        const int facility = log_facility_code(ctx.config().log.facility);
        if (facility >= 0) g_facility = facility;
        bool truncated = false;
        const std::string message = read_stdin(truncated);
        if (truncated) {
            log_line(LOG_NOTICE,
                     std::string("ingest=") + what + " result=unused reason=\"message larger than 10 MB\"");
            return;
        }
        apply(message);
    } catch (const Error& e) {
        // Our own environment: Postfix keeps the mail and retries.
        log_line(LOG_ERR, std::string("ingest=") + what + " result=deferred error=\"" + e.what() + "\"");
        std::exit(EX_TEMPFAIL);
    }
}

void log_report(const char* what, const ReportResult& r) {
    if (!r.used) {
        log_line(LOG_NOTICE, std::string("ingest=") + what + " result=unused" +
                                 (r.domain.empty() ? "" : " domain=" + r.domain) + " reason=\"" + r.reason +
                                 "\"");
        return;
    }
    std::string line =
        std::string("ingest=") + what + " result=counted domain=" + r.domain + " matched=" + r.matched_by;
    if (r.hard || r.soft) line += " hard=" + std::to_string(r.hard) + " soft=" + std::to_string(r.soft);
    if (r.complaints) line += " complaints=" + std::to_string(r.complaints);
    line += " suppressed=" + std::to_string(r.suppressed.size());
    if (r.ignored) line += " ignored=" + std::to_string(r.ignored);
    if (!r.health.empty()) line += " suspended=\"" + r.health + "\"";
    log_line(LOG_INFO, line);
}

}  // namespace

void register_ingest_commands(CLI::App& app, Context& ctx) {
    auto* in = app.add_subcommand("ingest", "mail that comes back to the relay (Postfix pipe transports)");
    in->require_subcommand(1);
    auto* u = in->add_subcommand("unsubscribe", "a message to the List-Unsubscribe mailto address, on stdin");
    static std::string sender;
    u->add_option("--sender", sender, "the envelope sender (Postfix pipe: ${sender})");
    u->callback([&ctx] {
        run_ingest(ctx, "unsubscribe", [&ctx](const std::string& message) {
            const Config& cfg = ctx.config();
            TokenKeys keys = TokenKeys::load(cfg.tracking.secret_file);
            IngestResult r =
                ingest_unsubscribe(ctx.admin().store(), keys, cfg, message, sender, now_seconds());
            if (!r.used) {
                log_line(LOG_NOTICE, "ingest=unsubscribe result=unused reason=\"" + r.reason + "\"");
                return;
            }
            log_line(LOG_INFO, "ingest=unsubscribe result=suppressed domain=" + r.domain +
                                   " count=" + std::to_string(r.suppressed.size()) +
                                   (r.already.empty() ? "" : " already=" + std::to_string(r.already.size())));
            if (!ctx.quiet) std::cout << "suppressed " << join(r.suppressed) << " for " << r.domain << '\n';
        });
    });
    static std::string recipient;
    for (const char* what : {"dsn", "arf"}) {
        const bool dsn = std::string(what) == "dsn";
        auto* c = in->add_subcommand(what, dsn ? "a bounce (delivery status notification) on stdin"
                                               : "a feedback-loop complaint (RFC 5965 report) on stdin");
        c->add_option("--recipient", recipient, "the envelope recipient (Postfix pipe: ${recipient})");
        c->callback([&ctx, what, dsn] {
            run_ingest(ctx, what, [&](const std::string& message) {
                const Config& cfg = ctx.config();
                TokenKeys keys = TokenKeys::load(cfg.tracking.secret_file);
                Store& store = ctx.admin().store();
                const ReportResult r = dsn ? ingest_dsn(store, keys, cfg, message, recipient, now_seconds())
                                           : ingest_arf(store, keys, cfg, message, recipient, now_seconds());
                log_report(what, r);
                if (r.used && !ctx.quiet && !r.suppressed.empty())
                    std::cout << "suppressed " << join(r.suppressed) << " for " << r.domain << '\n';
            });
        });
    }
}

}  // namespace outpost::ctl
