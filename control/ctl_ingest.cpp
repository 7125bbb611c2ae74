// ctl_ingest.cpp - `outpostctl ingest ...`: mail that comes back to the
// relay, fed by Postfix pipe transports (contrib/postfix/master.cf.fragment).
//
//   outpostctl ingest unsubscribe [--sender ADDR] < message
//       mail to the List-Unsubscribe mailto address (control/lib/
//       ingest_unsubscribe.h). --sender is the envelope sender
//       (Postfix: ${sender}).
//
// Exit status, as a pipe transport needs it: 0 when the mail was used and
// also when it cannot be used (logged with the reason, so Postfix does not
// bounce it back to a stranger); 75 (EX_TEMPFAIL) when outpost's own
// environment fails (store or secret file unreadable or unwritable), so
// Postfix keeps the mail and retries. One line per mail goes to syslog
// (facility mail, ident outpostctl) and to stderr.
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "control/ctl.h"
#include "control/lib/ingest_unsubscribe.h"
#include "store/error.h"

namespace outpost::ctl {
namespace {

void log_line(int priority, const std::string& line) {
    openlog("outpostctl", LOG_PID, LOG_MAIL);
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

}  // namespace

void register_ingest_commands(CLI::App& app, Context& ctx) {
    auto* in = app.add_subcommand("ingest", "mail that comes back to the relay (Postfix pipe transports)");
    in->require_subcommand(1);
    auto* u = in->add_subcommand("unsubscribe", "a message to the List-Unsubscribe mailto address, on stdin");
    static std::string sender;
    u->add_option("--sender", sender, "the envelope sender (Postfix pipe: ${sender})");
    u->callback([&ctx] {
        try {
            bool truncated = false;
            const std::string message = read_stdin(truncated);
            if (truncated) {
                log_line(LOG_NOTICE, "ingest=unsubscribe result=unused reason=\"message larger than 10 MB\"");
                return;
            }
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
        } catch (const Error& e) {
            // Our own environment: Postfix keeps the mail and retries.
            log_line(LOG_ERR, std::string("ingest=unsubscribe result=deferred error=\"") + e.what() + "\"");
            std::exit(EX_TEMPFAIL);
        }
    });
}

}  // namespace outpost::ctl
