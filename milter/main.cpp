/*
 * NAME
 *      outpost-milter - sending domains for Postfix and Sendmail: enforce,
 *      warm up, suppress, add List-Unsubscribe, track, DKIM-sign
 *
 * SYNOPSIS
 *      outpost-milter [--config FILE] [-f|--foreground] [--debug]
 *      outpost-milter [--config FILE] --check-config
 *      outpost-milter -h|--help|--version
 *
 * DESCRIPTION
 *      outpost-milter sits inline in the MTA (Postfix smtpd_milters and
 *      non_smtpd_milters, or Sendmail INPUT_MAIL_FILTER) and runs every
 *      message through a pipeline of small stages:
 *
 *        identify     SASL login ({auth_authen}) -> key; X-Outpost-Key header
 *                     -> key (always removed); client address in a key's
 *                     networks -> key; else milter.unauthenticated
 *        authorize    exactly one From mailbox (RFC 5322, GMime); its domain
 *                     known, active, verified (sandbox keys excepted), not
 *                     suspended, allowed for the key and its tenant
 *        line length  no header or body line over 998 octets (990 under
 *                     Sendmail) in mail outpost signs: the MTA would split
 *                     it after signing (550 5.6.0 LINE_TOO_LONG)
 *        warmup       per-domain daily recipient limit, exact under
 *                     concurrency, resets 00:00 UTC
 *        suppress     suppressed recipients removed
 *        sandbox      sandbox keys' mail redirected or quarantined
 *        unsubscribe  List-Unsubscribe (+ RFC 8058 one-click) with a private
 *                     token, folded at the comma
 *        track        click links, open pixel, {{outpost_unsubscribe_url}}
 *                     and the unsubscribe footer, per domain; the body is
 *                     buffered only when it may change (up to
 *                     tracking.max_bytes, else delivered untracked) and
 *                     replaced (smfi_replacebody)
 *        return-path  where the domain's MAIL FROM subdomain verified, the
 *                     envelope sender becomes a VERP address on it
 *                     (bounces+TOKEN@bounce.DOMAIN, smfi_chgfrom)
 *        sign         DKIM (rsa-sha256, and ed25519-sha256 where the domain
 *                     has such a selector), relaxed/relaxed, over the
 *                     message as delivered: body streamed, or the new
 *                     body when track replaced it
 *
 *      Decisions are taken at end of headers, so refused mail never sends
 *      its body. Every refusal is an SMTP reply with an enhanced status code
 *      and a reason token first (see SMTP REPLIES in outpost-milter(8));
 *      outpost's own faults are 451 4.3.0, so mail that should be signed is
 *      never passed unsigned. With Postfix's milter_default_action = tempfail, a stopped
 *      milter delays mail and never loses it.
 *
 *      Changes made with outpostctl (domains, keys, suppressions) take
 *      effect on the next message: every message reads one fresh snapshot of
 *      the store. DKIM keys are read (and parsed) once and kept in memory;
 *      a key file that does not match the public key in the store is
 *      refused. Counters are written without fsync and synced once a
 *      second.
 *
 *      --config FILE     the configuration (default $OUTPOST_CONFIG, else
 *                        /etc/outpost/outpost.yaml; see outpost.yaml(5)).
 *      -f, --foreground  log to stderr (development, tests; a UTC time
 *                        stamp per line, none when stderr is the systemd
 *                        journal) instead of syslog (ident outpost-milter,
 *                        facility log.facility: mail by default).
 *                        outpost-milter never forks: run it under a
 *                        supervisor.
 *      --check-config    load the configuration, become milter.user (if
 *                        started as root), open the store, read every
 *                        signing key and the tracking secrets, print "ok" or
 *                        each problem, and exit.
 *      --debug           also log debug lines.
 *      -h, --help, --version  print the options, or the version, and exit.
 *
 *      Signals: SIGHUP reloads the configuration and the tracking secrets
 *      atomically (connections keep the generation they started with; a
 *      configuration that does not load is logged and the old one kept;
 *      milter.listen and milter.user need a restart). SIGTERM drains:
 *      new connections are refused at negotiation and new messages get
 *      421 4.3.2 SHUTTING_DOWN (the MTA keeps both and retries), messages in
 *      progress finish for up to milter.drain_timeout (SIGINT or a second
 *      SIGTERM cuts it short; SIGHUP still reloads); then the milter syncs
 *      the counters and exits.
 *
 * SECURITY
 *      Started as root, outpost-milter opens its socket, gives a unix socket
 *      milter.socket_mode and milter.socket_group, then drops to
 *      milter.user (setgid, initgroups, setuid) before it opens the store,
 *      the DKIM keys or the tracking secrets; milter.user: "" keeps the
 *      current user (tests). Everything the MTA sends is treated as hostile:
 *      the From header is parsed by GMime in strict mode and refused on any
 *      ambiguity, key secrets are compared as hashes in constant time, and
 *      header values outpost adds are built from checked parts (no CR/LF).
 *
 *      libmilter answers SIGHUP by stopping, and stops on SIGTERM without
 *      letting sessions finish. To reload and to drain instead, this program
 *      defines sigwait(3), the call libmilter's signal thread waits in
 *      (milter/libmilter_hooks.h), and milter/daemon.h answers it. DKIM
 *      signatures are
 *      made by outpost's own signer (milter/dkim_signer.h) over keys parsed
 *      once and let go within a minute of their selector's retirement.
 *
 * STANDARDS
 *      RFC 5322 (From), RFC 6376 and RFC 8463 (DKIM, ed25519-sha256),
 *      RFC 2369 and RFC 8058 (List-Unsubscribe, one-click), RFC 2045
 *      (transfer encodings the track stage keeps), RFC 3463
 *      (enhanced status codes), the Sendmail milter protocol version 6.
 *
 * FILES
 *      /etc/outpost/outpost.yaml      configuration (--config, $OUTPOST_CONFIG)
 *      store.path (/var/lib/outpost)  LMDB store; counters/ is written here,
 *                                     and counters/latency.json every 10 s
 *      store.keys                     DKIM private keys (mode 0600)
 *      tracking.secret_file           token secrets, AES-256-GCM (outpostctl
 *                                     tracking init)
 *
 * EXIT STATUS
 *      0 normal stop or --check-config ok; 1 usage error; 5 configuration
 *      error; 6 environment error (store, keys, secrets, socket, user).
 *
 * DIAGNOSTICS
 *      One line per message decision, queue id first, key=value:
 *        4XyZ1: decision=accept domain=example.com key=app1 identity=sasl
 *               client=192.0.2.7 rcpts=1 signed=op20261122
 *        4XyZ2: decision=reject reply="550 5.7.1" reason=DOMAIN_NOT_FOUND ...
 *        4XyZ3: decision=pass reason=unmanaged from=cron@host.example ...
 *      An accepted message also names what the track stage did
 *      (tracked=links:2,pixel, tracked=too-large) and return_path=verp;
 *      and one line per internal error, naming the stage.
 *
 * CONFIGURATION PARAMETERS
 *      milter.listen, milter.user, milter.socket_mode, milter.socket_group,
 *      milter.unauthenticated, milter.unmanaged, milter.pending_action,
 *      milter.sandbox_recipient, milter.sandbox_mode,
 *      milter.unsubscribe_mailto, milter.drain_timeout, store.path,
 *      store.keys, log.facility, warmup.days, warmup.first_day, warmup.cap,
 *      tracking.host, tracking.secret_file, tracking.max_bytes,
 *      relay.hostname, relay.verp_prefix, records.mailfrom,
 *      records.tracking. outpost.yaml(5) describes them;
 *      `outpostctl config example` prints them all with their defaults.
 *
 * SEE ALSO
 *      outpostctl(8), outpost-trackd(8), outpost.yaml(5),
 *      man/outpost-milter.8 (the full manual), contrib/postfix/,
 *      contrib/sendmail/, contrib/systemd/outpost-milter.service
 */
#include <libmilter/mfapi.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "config/config.h"
#include "milter/callbacks.h"
#include "milter/daemon.h"
#include "milter/libmilter_hooks.h"
#include "milter/listen.h"
#include "milter/runtime.h"
#include "base/error.h"
#include "base/log.h"
#include "store/privileges.h"
#include "base/text.h"

namespace {

using namespace outpost;
using namespace outpost::milter;

void drop_privileges(const std::string& user) {
    if (user.empty()) return;
    struct passwd* pw = ::getpwnam(user.c_str());
    if (!pw)
        throw Error(Exit::config, "",
                    "milter.user: no user '" + user +
                        "' on this system; create it or set "
                        "milter.user to \"\" to keep the current user");
    if (::geteuid() != 0) {
        if (::geteuid() == pw->pw_uid) return;
        throw Error(Exit::environment, "PRIVILEGES",
                    "started as uid " + std::to_string(::geteuid()) + ", which cannot become " + user +
                        "; start as root or as " + user);
    }
    become_user(pw->pw_name, pw->pw_uid, pw->pw_gid);
}

int run(const std::string& config_path, bool foreground, bool debug, bool check_only) {
    // Block the signals libmilter's signal thread waits for first thing,
    // before the socket opens or any thread of ours starts: until smfi_main's
    // signal thread takes them in sigwait (milter/daemon.h), they wait.
    // Blocked later, a SIGHUP sent as soon as the socket answered (a reload
    // right after a start) took its default action and ended the milter; and
    // a thread that did not block them would do the same.
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGHUP);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    pthread_sigmask(SIG_BLOCK, &blocked, nullptr);

    log_open("outpost-milter", foreground || check_only, debug);
    auto cfg = std::make_shared<const Config>(load_config(config_path));
    log_facility(cfg->log.facility);

    if (check_only) {
        // Check as the user the milter runs as: what matters is whether
        // *it* can read the store, the keys and the secrets (and a root
        // check must not create root-owned files in the store).
        drop_privileges(cfg->milter.user);
        auto rt = make_runtime(cfg, nullptr);
        return check_runtime(*rt, std::cout) ? 0 : static_cast<int>(Exit::environment);
    }

    const ListenSpec spec = parse_listen(cfg->milter.listen);
    const mode_t mode = parse_socket_mode(cfg->milter.socket_mode);
    if (mode & 0002)
        log_warning("milter.socket_mode " + cfg->milter.socket_mode +
                    " lets every local user "
                    "talk to the milter; prefer 0660 with milter.socket_group");

    if (smfi_register(filter_description()) == MI_FAILURE)
        throw Error(Exit::environment, "SOCKET_ERROR", "smfi_register failed");
    if (smfi_setconn(const_cast<char*>(spec.libmilter.c_str())) == MI_FAILURE)
        throw Error(Exit::config, "", "milter.listen: libmilter refuses '" + spec.libmilter + "'");
    prepare_socket_dir(spec);
    if (smfi_opensocket(true) == MI_FAILURE)
        throw Error(Exit::environment, "SOCKET_ERROR",
                    "cannot listen on " + spec.libmilter + " (in use, or no permission?)");
    secure_socket(spec, mode, cfg->milter.user, cfg->milter.socket_group);
    if (spec.kind != ListenSpec::Kind::unix_socket) {
        const int n = set_nodelay_on_listeners();
        if (n == 0)
            log_warning("could not set TCP_NODELAY on the milter socket; expect slow TCP replies");
        else
            log_info("TCP_NODELAY set on the listening socket; accepted connections inherit it");
    }
    drop_privileges(cfg->milter.user);

    Daemon daemon(config_path, spec, make_runtime(cfg, nullptr));
    daemon.start();
    log_info("listening on " + spec.libmilter + " as uid " + std::to_string(::getuid()) + " (config " +
             cfg->source + ")");
    const int rc = smfi_main();
    daemon.stop();
    log_info("stopped");
    return rc == MI_SUCCESS ? 0 : static_cast<int>(Exit::environment);
}

}  // namespace

int main(int argc, char** argv) try {
    std::string config_path;
    bool foreground = false, check = false, debug = false;
    CLI::App app{
        "outpost-milter - sending domains for Postfix and Sendmail: enforce, warm up, suppress, "
        "add List-Unsubscribe, DKIM-sign"};
    app.name("outpost-milter");
    app.add_option("--config", config_path,
                   "configuration file (default: $OUTPOST_CONFIG, else /etc/outpost/outpost.yaml)");
    app.add_flag("-f,--foreground", foreground, "log to stderr instead of syslog");
    app.add_flag("--check-config", check,
                 "load the configuration, become milter.user, open the store, read every signing key "
                 "and the tracking secrets, print ok or the problems, exit");
    app.add_flag("--debug", debug, "also log debug lines");
    app.set_version_flag("--version", OUTPOST_VERSION);
    app.footer(
        "Signals: SIGHUP reloads the configuration, SIGTERM drains and stops.\n"
        "Exit status: 0 ok, 1 usage, 5 configuration error, 6 environment error.\n"
        "See outpost-milter(8) and outpost.yaml(5).");
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return static_cast<int>(outpost::Exit::usage);
    }
    try {
        return run(config_path, foreground, debug, check);
    } catch (const outpost::Error& e) {
        // A configuration error lists every problem, one line each.
        for (const auto& line : outpost::lines_of(e.what())) {
            outpost::log_error(line);
            if (!foreground && !check) std::fprintf(stderr, "outpost-milter: %s\n", line.c_str());
        }
        return static_cast<int>(e.status());
    } catch (const std::exception& e) {
        outpost::log_error(std::string("internal error: ") + e.what());
        if (!foreground && !check) std::fprintf(stderr, "outpost-milter: internal error: %s\n", e.what());
        return static_cast<int>(outpost::Exit::environment);
    }
} catch (...) {
    std::fprintf(stderr, "outpost-milter: internal error during start-up\n");
    return static_cast<int>(outpost::Exit::environment);
}
