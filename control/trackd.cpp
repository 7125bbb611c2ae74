/*
 * NAME
 *      outpost-trackd - open pixels, click redirects and one-click
 *      unsubscribe for outpost's sending domains
 *
 * SYNOPSIS
 *      outpost-trackd [--config FILE] [-f|--foreground]
 *      outpost-trackd [--config FILE] --check-config
 *      outpost-trackd -h|--help|--version
 *
 * DESCRIPTION
 *      outpost-trackd answers the links outpost-milter puts into mail. It
 *      speaks plain HTTP/1.1 on tracking.listen (ADDR:PORT, [IPv6]:PORT)
 *      behind a TLS proxy (Caddy, nginx) on the same host:
 *
 *        GET|HEAD /o/TOKEN    200, a transparent 1x1 GIF, never cached;
 *                             counts an open
 *        GET|HEAD /c/TOKEN    302 to the URL sealed in the token, for
 *                             whoever asks; counts a click
 *        GET /u/TOKEN         a confirmation page naming the list ("mail
 *                             from DOMAIN") and the address masked
 *                             (j***@example.org); a GET changes nothing,
 *                             because link scanners prefetch
 *        POST /u/TOKEN        List-Unsubscribe=One-Click (RFC 8058), or
 *                             the page's button: the recipient is
 *                             suppressed for the domain, durably, and the
 *                             answer is 200; repeating it is harmless
 *        GET /healthz         200 "ok" while the store is readable
 *        GET /tls-ask?domain=HOST
 *                             the proxy's on-demand certificate question:
 *                             200 for tracking.host and for
 *                             records.tracking.DOMAIN of every domain whose
 *                             tracking check is ok; else 404
 *
 *      Anything else - a forged, altered or expired token, one of another
 *      kind, one sealed with a retired secret, or one whose domain was
 *      removed - is a plain 404 "not found". A known path asked with
 *      another method is 405 with Allow.
 *
 *      Opens and clicks are counted per domain and UTC day as human or
 *      machine: HEAD requests, the user agents of mail privacy proxies,
 *      link scanners and HTTP libraries, a built-in list of their
 *      networks, and requests within 10 seconds of the token's issue time
 *      are machines (control/lib/trackd_classify.h). The first human open
 *      or click of a message by a recipient also counts as unique. The
 *      client address is the connection's peer, or, when the peer is
 *      loopback (the proxy), the left-most X-Forwarded-For entry.
 *
 *      Requests: request line and headers at most 8 KiB (else 431), body
 *      at most 4 KiB (else 413); a request must arrive within
 *      tracking.timeout, which is also the keep-alive idle time; at most
 *      tracking.max_connections connections are served at once, further
 *      ones wait in the listen queue. Responses carry
 *      "Server: outpost-trackd".
 *
 *      --config FILE     the configuration (default $OUTPOST_CONFIG, else
 *                        /etc/outpost/outpost.yaml; see outpost.yaml(5)).
 *      -f, --foreground  log to stderr (development, tests) instead of
 *                        syslog (ident outpost-trackd, facility
 *                        log.facility: mail by default). outpost-trackd
 *                        never forks: run it under a supervisor.
 *      --check-config    load the configuration, the tracking secrets and
 *                        the store, check tracking.listen and
 *                        tracking.user, print "ok", exit.
 *
 *      Signals: SIGHUP reloads the configuration and the tracking secrets
 *      (read as tracking.user; a file that does not load is logged and the
 *      old settings kept; tracking.listen, tracking.user and store.path
 *      need a restart). SIGTERM and SIGINT stop accepting, let responses
 *      being written finish for up to 2 seconds, sync the counters, and
 *      exit 0.
 *
 * SECURITY
 *      Everything a client sends is hostile. Tokens are AES-256-GCM sealed
 *      (store/tokens.h): only a genuine token of the route's kind, within
 *      its lifetime, is acted on, and its contents never reach a log line
 *      or a page (the address is shown masked). A click redirects only to
 *      the URL sealed in the token, so links are no open redirect. The
 *      unsubscribe page has a strict Content-Security-Policy, no script,
 *      and cannot be framed.
 *
 *      Started as root, outpost-trackd reads the configuration, binds
 *      tracking.listen, reads tracking.secret_file and opens the store,
 *      then becomes tracking.user (setgid, initgroups, setuid); it refuses
 *      to serve as root, so that user must exist. Started as another user
 *      it runs as that user. It never opens store.keys: DKIM private keys
 *      stay out of reach of the process that faces the internet.
 *
 * STANDARDS
 *      RFC 9110 and RFC 9112 (HTTP/1.1), RFC 8058 (one-click unsubscribe),
 *      RFC 6585 (status 431).
 *
 * FILES
 *      /etc/outpost/outpost.yaml      configuration (--config, $OUTPOST_CONFIG)
 *      store.path (/var/lib/outpost)  LMDB store: domains and suppression
 *                                     (read, suppressions written and synced),
 *                                     counters/ (stats, MDB_NOSYNC, synced
 *                                     once a second)
 *      tracking.secret_file           token secrets (outpostctl tracking init)
 *
 * EXIT STATUS
 *      0 normal stop or --check-config ok; 1 usage error; 5 configuration
 *      error; 6 environment error (store, secrets, socket, privileges).
 *
 * DIAGNOSTICS
 *      One line per request, never with the token or the recipient:
 *        GET open 200 domain=example.com class=machine why=ua client=66.249.84.1
 *        POST unsubscribe 200 domain=example.com class=- why=one-click client=192.0.2.7
 *        - - 431 domain=- class=- why=headers client=192.0.2.8
 *      and one line per slow client, store fault or failed counter
 *      write. Errors at start are one line on stderr,
 *        outpost-trackd: TOKEN: what went wrong; how to fix it
 *      with the tokens CONFIG_INVALID and TRACKD_USER (exit 5), and
 *      TRACKING_SECRET_MISSING (run `outpostctl tracking init`),
 *      TRACKING_SECRET_INVALID, STORE_MISSING, SOCKET_ERROR and PRIVILEGES
 *      (exit 6).
 *
 * CONFIGURATION PARAMETERS
 *      tracking.listen, tracking.host, tracking.user,
 *      tracking.secret_file, tracking.open_lifetime,
 *      tracking.click_lifetime, tracking.unsubscribe_lifetime,
 *      tracking.max_connections, tracking.timeout, records.tracking,
 *      store.path, log.facility. outpost.yaml(5) describes them;
 *      `outpostctl config example` prints them all with their defaults.
 *
 * SEE ALSO
 *      outpost-milter(8), outpostctl(8) (tracking, suppression),
 *      outpost.yaml(5), man/outpost-trackd.8 (the full manual),
 *      store/stats.h
 */
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "config/config.h"
#include "control/lib/trackd_handler.h"
#include "base/log.h"
#include "base/text.h"
#include "control/lib/trackd_privileges.h"
#include "control/lib/trackd_server.h"
#include "base/error.h"
#include "store/store.h"
#include "store/tokens.h"

namespace {

using namespace outpost;
using namespace outpost::trackd;

constexpr unsigned kIoThreads = 2;

// trackd opens the store as root; it must not be the one to create it
// (root-owned files the other processes could not use).
void require_store(const Config& cfg) {
    if (!std::filesystem::exists(cfg.store.path + "/data.mdb"))
        throw Error(Exit::environment, "STORE_MISSING",
                    "no store at " + cfg.store.path +
                        "; create it with outpostctl (e.g. `outpostctl domain add`), or fix store.path");
}

std::shared_ptr<const Settings> load_settings(Config cfg) {
    TokenKeys keys = TokenKeys::load(cfg.tracking.secret_file);
    return std::make_shared<const Settings>(Settings{std::move(cfg), std::move(keys)});
}

void reload(Handler& handler, const std::string& config_path) {
    try {
        const auto old = handler.settings();
        Config next = load_config(config_path);
        if (next.tracking.listen != old->config.tracking.listen ||
            next.tracking.user != old->config.tracking.user || next.store.path != old->config.store.path)
            log_warning(
                "SIGHUP: tracking.listen, tracking.user and store.path changes take effect at restart");
        log_facility(next.log.facility);
        const std::string source = next.source;
        auto settings = load_settings(std::move(next));
        const size_t n = settings->keys.size();
        handler.replace(std::move(settings));
        log_info("SIGHUP: reloaded " + source + " and " + std::to_string(n) + " tracking secret(s)");
    } catch (const std::exception& e) {
        log_error(std::string("SIGHUP: not reloaded, keeping the old configuration and secrets: ") +
                  e.what());
    }
}

int check(const std::string& config_path) {
    Config cfg = load_config(config_path);
    const ListenAddress la = parse_listen(cfg.tracking.listen);
    const auto settings = load_settings(cfg);
    require_store(cfg);
    Store store(cfg, Store::Mode::read_only);
    check_user(cfg.tracking.user);
    std::cout << cfg.source << ": ok (listen " << cfg.tracking.listen << ", " << settings->keys.size()
              << " tracking secret(s), store " << cfg.store.path << ")\n";
    (void)la;
    return 0;
}

int run(const std::string& config_path) {
    Config cfg = load_config(config_path);
    log_facility(cfg.log.facility);
    // As root: the socket, the secrets and the store; then tracking.user.
    Server server(cfg.tracking.listen);
    auto settings = load_settings(cfg);
    require_store(cfg);
    Store store(cfg, Store::Mode::read_write);
    const std::string who = become_user(cfg.tracking.user);

    Handler handler(store, std::move(settings));
    log_info("listening on " + server.local_address() + ", " + who + " (config " + cfg.source + ")");
    server.run(handler, store, kIoThreads, [&handler, config_path] { reload(handler, config_path); });
    try {
        store.sync_counters();
    } catch (const std::exception& e) {
        log_error(std::string("counters sync failed: ") + e.what());
    }
    log_info("stopped");
    return 0;
}

}  // namespace

int main(int argc, char** argv) try {
    std::string config_path;
    bool foreground = false, check_only = false;
    CLI::App app{"outpost-trackd - open pixels, click redirects and one-click unsubscribe for outpost"};
    app.name("outpost-trackd");
    app.add_option("--config", config_path,
                   "configuration file (default: $OUTPOST_CONFIG, else /etc/outpost/outpost.yaml)");
    app.add_flag("-f,--foreground", foreground, "log to stderr instead of syslog");
    app.add_flag("--check-config", check_only,
                 "load the configuration, the tracking secrets and the store, check tracking.listen and "
                 "tracking.user, print ok, exit");
    app.set_version_flag("--version", OUTPOST_VERSION);
    app.footer(
        "Routes: GET|HEAD /o/TOKEN (pixel), /c/TOKEN (redirect), GET|POST /u/TOKEN (unsubscribe),\n"
        "GET /healthz, GET /tls-ask?domain=HOST (TLS proxy's on-demand question).\n"
        "Signals: SIGHUP reloads the configuration and secrets, SIGTERM/SIGINT stop.\n"
        "Exit status: 0 ok, 1 usage, 5 configuration error, 6 environment error.\n"
        "See outpost-trackd(8) and outpost.yaml(5).");
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
    log_open("outpost-trackd", foreground || check_only, false);
    try {
        return check_only ? check(config_path) : run(config_path);
    } catch (const outpost::Error& e) {
        // One line on stderr, reason token first (load_config's errors have
        // none: they are FILE:LINE:COL messages).
        const std::string prefix =
            e.token().empty()
                ? std::string(e.status() == outpost::Exit::config ? "CONFIG_INVALID: " : "ERROR: ")
                : std::string();
        // A configuration error lists every problem, one line each.
        for (const auto& problem : outpost::lines_of(e.what())) {
            const std::string line = prefix + problem;
            if (!foreground && !check_only) log_error(line);
            std::fprintf(stderr, "outpost-trackd: %s\n", line.c_str());
        }
        return static_cast<int>(e.status());
    } catch (const std::exception& e) {
        if (!foreground && !check_only) log_error(std::string("internal error: ") + e.what());
        std::fprintf(stderr, "outpost-trackd: INTERNAL: %s\n", e.what());
        return static_cast<int>(outpost::Exit::environment);
    }
} catch (...) {
    std::fprintf(stderr, "outpost-trackd: INTERNAL: unexpected error during start-up\n");
    return static_cast<int>(outpost::Exit::environment);
}
