// config.h - outpost's configuration: one typed struct, filled from one table.
//
// Every parameter is declared once, in config.cpp's kParams table, with its
// dotted YAML key, type, default, bounds and a line of documentation. The
// loader, the built-in defaults, `outpostctl config example` and
// config/outpost.example.yaml all come from that table.
//
// Errors (unknown key, wrong type, out of range, a value a binary would
// refuse, YAML syntax) throw ConfigError (an outpost::Error, Exit::config)
// listing every problem of the file, each "FILE:LINE:COL: what; fix".
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"

namespace outpost {

struct HealthThresholds {
    double bounce_warn = 0, bounce_suspend = 0, complaint_warn = 0, complaint_suspend = 0;
};

struct Config {
    std::string source;  // file it was read from, or "(built-in defaults)"

    struct {
        std::string path;  // LMDB environment directory
        std::string keys;  // DKIM private keys directory (mode 0700, files 0600)
        long long counters_max_size = 0;  // bytes the counters map may grow to
        long long stats_days = 0;         // days of per-domain stats kept
        long long events_days = 0;        // days of events kept
    } store;
    struct {
        std::string facility;  // syslog facility name: mail, daemon, user, local0..local7
    } log;
    struct {
        std::string listen;
        std::string user;
        std::string unauthenticated;  // reject | allow
        std::string unmanaged;        // reject | pass
        std::string pending_action;   // reject | tempfail
        std::string sandbox_recipient;
        std::string sandbox_mode;                   // redirect | quarantine
        std::string unsubscribe_mailto;             // local part at relay.hostname, or full address
        std::string socket_mode;                    // octal mode of a unix socket, e.g. "0660"
        std::string socket_group;                   // group of a unix socket ("" = leave it)
        std::chrono::milliseconds drain_timeout{};  // SIGTERM: wait this long for messages
    } milter;
    struct {
        std::string hostname;
        std::vector<std::string> ips;
        std::string spf_include;
        std::string bounce_host;
        std::string verp_prefix;
    } relay;
    struct {
        int suppress_after = 0;  // permanent failures (not "no such mailbox") before suppression
        std::chrono::seconds lifetime{};
    } bounces;
    struct {
        std::string upstream;  // "" = recursive; "ADDR[@PORT]" forwards
        std::chrono::milliseconds timeout{};
        std::chrono::milliseconds deadline{};
        std::string trust_anchor;  // file; "" = no DNSSEC validation
        int concurrency = 0;
    } dns;
    struct {
        std::string algorithm;  // rsa | ed25519 | both
        int rsa_bits = 0;
        std::string selector_prefix;
    } dkim;
    struct {
        std::vector<std::string> required;
        std::chrono::seconds pending_timeout{};
    } verify;
    struct {
        std::string mailfrom;  // MAIL FROM subdomain label
        std::string tracking;  // tracking CNAME label
        std::string dmarc_policy;
        int ttl = 0;
    } records;
    struct {
        int days = 0;
        long long first_day = 0;
        long long cap = 0;  // 0 = no cap after warmup
    } warmup;
    struct {
        std::string host;
        std::string listen;
        std::string secret_file;
        long long max_bytes = 0;
        std::string user;  // outpost-trackd's user
        std::chrono::seconds open_lifetime{}, click_lifetime{}, unsubscribe_lifetime{};
        int max_connections = 0;
        std::chrono::milliseconds timeout{};
    } tracking;
    struct {
        int window_days = 0;
        long long min_volume = 0;
        HealthThresholds own, shared;
    } health;
};

// What load_config throws for a file with problems: every one found (not
// only the first), in file order, each "FILE:LINE:COL: KEY ... what is
// allowed"; what() is them joined by newlines. Exit::config.
class ConfigError : public Error {
public:
    explicit ConfigError(std::vector<std::string> problems)
        : Error(Exit::config, "", join(problems)), problems_(std::move(problems)) {}
    const std::vector<std::string>& problems() const noexcept { return problems_; }

private:
    static std::string join(const std::vector<std::string>& v) {
        std::string s;
        for (const auto& l : v) s += (s.empty() ? "" : "\n") + l;
        return s;
    }
    std::vector<std::string> problems_;
};

// A value the loader accepted by type and range but a binary would refuse
// when it uses it (dns.upstream, milter.listen, milter.socket_mode,
// tracking.listen, the host names and addresses the milter writes, store.keys
// against store.path). parse_config runs it; the binaries may too.
struct ConfigProblem {
    std::string key;
    std::string message;  // "KEY = 'VALUE' what is wrong; what is allowed"
};
std::vector<ConfigProblem> validate_config(const Config& c);

// The built-in defaults (what a missing /etc/outpost/outpost.yaml means).
Config default_config();

// Parse YAML text; `origin` names it in error messages.
Config parse_config(const std::string& yaml_text, const std::string& origin);

// Read and parse a file.
Config load_config_file(const std::string& path);

// Pick the file: `cli_path` if given, else $OUTPOST_CONFIG, else
// /etc/outpost/outpost.yaml. An explicitly named file must exist; a missing
// default file means the built-in defaults.
Config load_config(const std::string& cli_path);

// The settings that still hold the example's placeholder for this relay
// (relay.example.net, the TEST-NET addresses): one line each, naming the
// key and what to set it to. Empty when the relay is configured.
std::vector<std::string> example_values_left(const Config& c);

// The example configuration, generated from the parameter table.
std::string example_config();

inline constexpr const char* kDefaultConfigPath = "/etc/outpost/outpost.yaml";

}  // namespace outpost
