// ctl.h - what outpostctl's command files share.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "config/config.h"
#include "control/lib/admin.h"

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

std::string format_time(int64_t epoch_seconds);
// "YYYYMMDD" (utc_day) as "YYYY-MM-DD".
std::string day_text(const std::string& yyyymmdd);

// Command groups, one file each.
void register_verify_commands(CLI::App& domain_cmd, Context& ctx);
void register_tracking_commands(CLI::App& app, Context& ctx);
void register_stats_commands(CLI::App& app, Context& ctx);
void register_ingest_commands(CLI::App& app, Context& ctx);
void register_events_commands(CLI::App& app, Context& ctx);

}  // namespace outpost::ctl
