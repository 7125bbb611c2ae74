// ctl_verify.cpp - `outpostctl domain verify DOMAIN | --all [--quiet] [--json]`
// and `outpostctl relay verify [--quiet] [--json]`.
//
// Asks DNS for every record of the domain(s) (dns/verify.h), saves the
// results and the new status, and prints a table: one line per check, and
// under each one that is not ok the record to publish. Exit status 0 only
// when every domain checked is verified, else 7 (Exit::unverified).
// `relay verify` does the same for the relay's own records (what `relay
// records` prints; dns/relay_verify.h), which nothing stores.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "control/ctl.h"
#include "dns/relay_verify.h"
#include "dns/verify.h"
#include "base/error.h"

namespace outpost::ctl {
namespace {

std::string shorten(const std::string& s, size_t max) {
    if (s.size() <= max) return s;
    return s.substr(0, max - 3) + "...";
}

nlohmann::json report_json(const VerifyReport& r) {
    const Domain& d = r.domain;
    nlohmann::json sel = nlohmann::json::array();
    for (const auto& s : d.selectors) sel.push_back({{"name", s.name}, {"state", to_string(s.state)}});
    return {{"domain", d.name},
            {"status", to_string(d.status)},
            {"previous_status", to_string(r.transition.from)},
            {"verified", d.status == DomainStatus::verified},
            {"checked_at", d.checked_at},
            {"verified_at", d.verified_at},
            {"checks", d.checks},
            {"selectors", sel},
            {"activated", r.transition.activated},
            {"retiring", r.transition.retiring}};
}

void print_changes(const VerifyReport& r) {
    const Transition& t = r.transition;
    for (const auto& s : t.activated) std::printf("selector %s is now active (signing)\n", s.c_str());
    for (const auto& s : t.retiring)
        std::printf(
            "selector %s is now retiring (keep it published until mail signed with it has been "
            "delivered, then `outpostctl domain dkim retire %s %s`)\n",
            s.c_str(), r.domain.name.c_str(), s.c_str());
}

void print_checks(const std::vector<CheckResult>& checks) {
    size_t w_name = 5, w_host = 4;
    for (const auto& c : checks) {
        w_name = std::max(w_name, c.name.size());
        w_host = std::max(w_host, c.host.size());
    }
    const int wn = static_cast<int>(w_name), wh = static_cast<int>(w_host);
    std::printf("%-*s  %-8s  %-8s  %-*s  %s\n", wn, "CHECK", "STATUS", "REQUIRED", wh, "HOST", "FOUND");
    for (const auto& c : checks) {
        std::printf("%-*s  %-8s  %-8s  %-*s  %s\n", wn, c.name.c_str(), to_string(c.status),
                    c.required ? "yes" : "no", wh, c.host.c_str(), shorten(c.found, 100).c_str());
        if (c.status != CheckStatus::ok && !c.hint.empty())
            std::printf("%*s-> %s\n", wn + 2, "", c.hint.c_str());
    }
}

void print_table(const VerifyReport& r) {
    const Domain& d = r.domain;
    std::printf("%s: %s", d.name.c_str(), to_string(d.status));
    if (r.transition.from != r.transition.to) std::printf(" (was %s)", to_string(r.transition.from));
    std::printf("\n");
    print_checks(d.checks);
    print_changes(r);
}

// For --all: one line per domain; what to fix under those not verified.
void print_summary_line(const VerifyReport& r) {
    const Domain& d = r.domain;
    std::string problems;
    for (const auto& c : d.checks)
        if (c.status != CheckStatus::ok && (c.required || c.status == CheckStatus::error))
            problems += (problems.empty() ? "" : ", ") + c.name + " " + to_string(c.status);
    std::printf("%-40s %-9s%s%s\n", d.name.c_str(), to_string(d.status),
                r.transition.from != r.transition.to
                    ? (std::string(" (was ") + to_string(r.transition.from) + ")").c_str()
                    : "",
                problems.empty() ? "" : ("  " + problems).c_str());
    if (d.status != DomainStatus::verified)
        for (const auto& c : d.checks)
            if (c.required && !check_passes(c.status) && !c.hint.empty())
                std::printf("    %s: %s\n", c.name.c_str(), c.hint.c_str());
    print_changes(r);
}

// --quiet: only what needs a person, on stderr.
void print_problems(const VerifyReport& r) {
    const Domain& d = r.domain;
    for (const auto& c : d.checks) {
        if (!c.required || check_passes(c.status)) continue;
        if (c.status == CheckStatus::error || d.status != DomainStatus::verified)
            std::fprintf(stderr, "outpostctl: %s is %s: %s %s: %s\n", d.name.c_str(), to_string(d.status),
                         c.name.c_str(), to_string(c.status), c.hint.c_str());
    }
    if (d.status != DomainStatus::verified &&
        std::all_of(d.checks.begin(), d.checks.end(),
                    [](const CheckResult& c) { return !c.required || check_passes(c.status); }))
        std::fprintf(stderr, "outpostctl: %s is %s\n", d.name.c_str(), to_string(d.status));
}

}  // namespace

void register_relay_verify_command(CLI::App& relay_cmd, Context& ctx) {
    auto* c = relay_cmd.add_subcommand(
        "verify", "check the relay's own records in DNS (exit 0 only when they are right, else 7)");
    c->add_flag("--json", ctx.json, "JSON output");
    c->add_flag("-q,--quiet", ctx.quiet, "print nothing but problems, on stderr (for cron)");
    c->callback([&ctx] {
        const Config& cfg = ctx.config();
        const RelayVerification v = verify_relay(cfg);
        ctx.exit_status = v.verified ? 0 : static_cast<int>(Exit::unverified);
        if (ctx.json) {
            std::cout << nlohmann::json{{"relay", cfg.relay.hostname},
                                        {"verified", v.verified},
                                        {"checks", v.checks}}
                             .dump(2)
                      << '\n';
            return;
        }
        if (ctx.quiet) {
            for (const auto& r : v.checks)
                if (r.required && !check_passes(r.status))
                    std::fprintf(stderr, "outpostctl: relay %s is not verified: %s %s: %s\n",
                                 cfg.relay.hostname.c_str(), r.name.c_str(), to_string(r.status), r.hint.c_str());
            return;
        }
        std::printf("relay %s: %s\n", cfg.relay.hostname.c_str(), v.verified ? "verified" : "not verified");
        print_checks(v.checks);
    });
}

void register_verify_commands(CLI::App& domain_cmd, Context& ctx) {
    struct Args {
        std::string domain;
        bool all = false;
    };
    auto args = std::make_shared<Args>();
    auto* c = domain_cmd.add_subcommand(
        "verify",
        "check a domain's DNS records, update its status (exit 0 only when verified and DNS answered, "
        "else 7)");
    c->add_option("domain", args->domain, "the domain to check");
    c->add_flag("--all", args->all,
                "check every domain (for a timer or cron); non-zero if any is not verified");
    c->add_flag("--json", ctx.json, "JSON output");
    c->add_flag("-q,--quiet", ctx.quiet, "print nothing but problems, on stderr (for cron)");
    c->callback([&ctx, args] {
        if (args->all == !args->domain.empty())
            throw Error(Exit::usage, "", "domain verify takes a DOMAIN or --all (not both)");
        Admin& a = ctx.admin();
        std::vector<Domain> domains;
        if (args->all)
            domains = a.domains(false);
        else
            domains.push_back(a.domain(args->domain));
        const auto started = std::chrono::steady_clock::now();
        const auto reports = verify_domains(a.store(), a.config(), domains);
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        // A required check DNS did not answer keeps the domain's status (it
        // concludes nothing) but is no success either.
        size_t verified = 0, unanswered = 0;
        for (const auto& r : reports) {
            verified += r.domain.status == DomainStatus::verified;
            unanswered += std::any_of(r.domain.checks.begin(), r.domain.checks.end(), [](const CheckResult& c) {
                return c.required && c.status == CheckStatus::error;
            });
        }
        if (!args->all && reports.empty())
            throw Error(Exit::not_found, "DOMAIN_NOT_FOUND",
                        "domain " + domains.front().name + " was removed while it was being checked");
        ctx.exit_status =
            verified == reports.size() && unanswered == 0 ? 0 : static_cast<int>(Exit::unverified);

        if (ctx.json) {
            if (!args->all) {
                std::cout << report_json(reports.front()).dump(2) << '\n';
            } else {
                nlohmann::json arr = nlohmann::json::array();
                for (const auto& r : reports) arr.push_back(report_json(r));
                std::cout << nlohmann::json{{"domains", arr},
                                            {"checked", reports.size()},
                                            {"verified", verified},
                                            {"seconds", secs}}
                                 .dump(2)
                          << '\n';
            }
            return;
        }
        if (ctx.quiet) {
            for (const auto& r : reports) print_problems(r);
            return;
        }
        if (!args->all) {
            print_table(reports.front());
            return;
        }
        for (const auto& r : reports) print_summary_line(r);
        std::printf("%zu domains checked in %.2f s: %zu verified, %zu not verified", reports.size(), secs, verified,
                    reports.size() - verified);
        if (unanswered)
            std::printf("; DNS did not answer for %zu (status kept; run it again later, or check dns.upstream)",
                        unanswered);
        std::printf("\n");
    });
}

}  // namespace outpost::ctl
