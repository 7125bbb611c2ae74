// ctl.h - what outpostctl's command files share.
//
// EXIT STATUS: one per class of error, the same for every command (this
// table is the one place; outpostctl.cpp's manual page and --help repeat it):
//   0   success
//   1   usage error: the command line is wrong. An unknown or missing
//       command (UNKNOWN_COMMAND, MISSING_COMMAND), an unknown option
//       (UNKNOWN_OPTION), a missing or extra argument (MISSING_ARGUMENT,
//       UNEXPECTED_ARGUMENT), nothing to change (NOTHING_TO_CHANGE), or a
//       value that an option or argument does not take: on/off, numbers and
//       their ranges, choices, domain names, addresses, networks, key sizes,
//       selectors, names (VALUE_INVALID, DOMAIN_INVALID, ADDRESS_INVALID,
//       CIDR_INVALID, CIDR_HOST_BITS, ...)
//   2   not found: the named domain, key, tenant, selector, suppression
//   3   conflict: it exists already, or its state forbids the change
//   4   not used any more (it was "invalid value": those are usage errors now)
//   5   configuration error: the file (every problem, one line each,
//       FILE:LINE:COL: KEY ...), or a setting the command needs
//   6   environment error: store, key files, permissions, internal error
//   7   checked, not verified: `domain verify`, `relay verify` (a record is
//       missing or wrong, or DNS did not answer), `message verify` (a
//       signature failed, or there is none); outpost-verify.service relies
//       on it
//   75  `ingest` only: the store could not be written (EX_TEMPFAIL: Postfix
//       retries); mail it cannot use exits 0
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "control/lib/admin.h"
#include "base/error.h"

namespace outpost::ctl {

// Lazily loads the config and opens the store, so `--help` and usage errors
// need neither.
struct Context {
    std::string config_path;
    bool json = false;
    bool quiet = false;
    int exit_status = 0;  // set by commands that succeed but report a state

    const Config& config() {
        if (!cfg) cfg = std::make_unique<Config>(load_config(config_path));
        return *cfg;
    }
    Admin& admin() {
        if (!adm) adm = std::make_unique<Admin>(config());
        return *adm;
    }

private:
    std::unique_ptr<Config> cfg;
    std::unique_ptr<Admin> adm;
};

// The exit status for an outpost::Error (Exit::invalid is a usage error).
inline int exit_status(Exit e) {
    return e == Exit::invalid ? static_cast<int>(Exit::usage) : static_cast<int>(e);
}

// The one line (without "outpostctl: ") for a command line CLI11 refused:
// reason token, what was typed, the nearest valid commands or options, the
// valid choices (ctl_usage.cpp). `args` are argv[1..].
std::string usage_error_line(CLI::App& app, const std::vector<std::string>& args, const CLI::ParseError& e);
// The candidates nearest to `typed` (a unique prefix, else the smallest edit
// distance within a limit growing with its length); empty when none is near.
std::vector<std::string> nearest_words(const std::string& typed, const std::vector<std::string>& candidates);

std::string format_time(int64_t epoch_seconds);
// "YYYYMMDD" (utc_day) as "YYYY-MM-DD".
std::string day_text(const std::string& yyyymmdd);

// Command groups, one file each.
void register_verify_commands(CLI::App& domain_cmd, Context& ctx);
void register_relay_verify_command(CLI::App& relay_cmd, Context& ctx);
void register_tracking_commands(CLI::App& app, Context& ctx);
void register_message_commands(CLI::App& app, Context& ctx);
void register_stats_commands(CLI::App& app, Context& ctx);
void register_ingest_commands(CLI::App& app, Context& ctx);
void register_events_commands(CLI::App& app, Context& ctx);

}  // namespace outpost::ctl
