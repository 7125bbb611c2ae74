/*
 * NAME
 *      outpostctl - manage outpost's sending domains, keys, tenants and
 *      suppression lists
 *
 * SYNOPSIS
 *      outpostctl [--config FILE] COMMAND [ARGS]
 *      outpostctl -h|--help|--version
 *
 *      outpostctl domain add DOMAIN [--tenant T] [--shared]
 *              [--dmarc-policy none|quarantine|reject] [--rua ADDR]
 *              [--selector S] [--algorithm rsa|ed25519|both] [--rsa-bits N]
 *              [--json]
 *      outpostctl domain list [--removed] [--json]
 *      outpostctl domain show DOMAIN [--json]
 *      outpostctl domain records DOMAIN [--format table|json|bind] [--json]
 *      outpostctl domain set DOMAIN [--active on|off] [--track-opens on|off]
 *              [--track-clicks on|off] [--unsubscribe on|off]
 *              [--unsubscribe-footer on|off]
 *              [--dmarc-policy P] [--warmup-days N] [--daily-cap N]
 *      outpostctl domain verify DOMAIN | --all [-q|--quiet] [--json]
 *      outpostctl domain dkim rotate DOMAIN [--algorithm A]
 *      outpostctl domain dkim retire DOMAIN SELECTOR
 *      outpostctl domain suspend DOMAIN [--reason TEXT]
 *      outpostctl domain reinstate DOMAIN
 *      outpostctl domain remove DOMAIN
 *      outpostctl relay records [--format table|json|bind] [--json]
 *      outpostctl relay verify [-q|--quiet] [--json]
 *      outpostctl tenant add NAME
 *      outpostctl tenant list [--json]
 *      outpostctl tenant remove NAME
 *      outpostctl key add NAME [--tenant T] [--allow DOMAIN...] [--sasl USER]
 *              [--cidr NET...] [--sandbox] [--json]
 *      outpostctl key list [--json]
 *      outpostctl key show NAME [--json]
 *      outpostctl key remove NAME
 *      outpostctl suppression add DOMAIN ADDRESS [--reason TEXT]
 *      outpostctl suppression remove DOMAIN ADDRESS
 *      outpostctl suppression list DOMAIN [--json]
 *      outpostctl config check
 *      outpostctl config example
 *      outpostctl tracking init
 *      outpostctl tracking rotate
 *      outpostctl tracking retire KID
 *      outpostctl tracking show
 *      outpostctl stats [DOMAIN] [--days N] [--json]
 *      outpostctl stats --milter [--json]
 *      outpostctl events [DOMAIN] [--since T] [--type T] [--json]
 *      outpostctl ingest unsubscribe [--sender ADDR] < MESSAGE
 *      outpostctl ingest dsn [--recipient ADDR] < MESSAGE
 *      outpostctl ingest arf [--recipient ADDR] < MESSAGE
 *      outpostctl message verify FILE|- [--json]
 *
 * DESCRIPTION
 *      outpostctl is the administrator's side of outpost. A domain is added
 *      (its name normalized to IDNA A-labels, lower case, no trailing dot;
 *      public suffixes refused), gets a DKIM key pair per selector
 *      (RSA-2048 by default, ed25519 optional), and starts "pending". Its DNS
 *      records are shown by `domain records`; once they are published,
 *      `domain verify` checks them against real DNS and moves the domain to
 *      "verified", from which outpost-milter signs its mail.
 *
 *      API keys identify senders to the milter: by SASL login, by the
 *      X-Outpost-Key header, or by client network. A key's secret is printed
 *      once by `key add` and stored only as its SHA-256.
 *
 *      `stats` sums the per-domain, per-UTC-day counts of the milter and
 *      outpost-trackd (sent, refused by reason, opens and clicks as human,
 *      machine and unique, unsubscribes by channel, tracked messages) over
 *      the last N days (7), with rates against the recipients sent to,
 *      bounces (hard, soft), complaints and the recipients suppressed for
 *      them, and each domain's health verdict.
 *
 *      Health: bounce (bounce.hard) and complaint rates against recipients
 *      sent over health.window_days, judged against health.own or, for a
 *      shared domain, health.shared; a level is reached strictly above its
 *      threshold, and below health.min_volume recipients never. `domain
 *      show` prints the figures. `ingest` suspends a domain whose rate is
 *      over a suspend threshold; after `domain reinstate` the window starts
 *      the UTC day after the reinstatement, so the old numbers do not
 *      suspend it again.
 *
 *      `stats --milter` prints outpost-milter's end-of-message latency since
 *      it started (messages, p50, p99, p99.9), from the snapshot it writes
 *      every 10 s to <store.path>/counters/latency.json.
 *
 *      `events` prints the history of a domain (or of all, merged), oldest
 *      first: additions, settings, verification changes, DKIM rotations
 *      and retirements, suspensions and reinstatements (by whom), removals.
 *      --since takes YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ (UTC) or an age (7d,
 *      12h); --type a type or a prefix ending at a dot (domain., dkim.).
 *
 *      `message verify` checks every DKIM signature of a delivered message
 *      (a file, or - for standard input) with libopendkim, fetching keys
 *      through outpost's resolver (dns.upstream): one line per signature
 *      (dkim=pass|fail d= s= a=, and why it failed); exit 0 when all pass,
 *      7 when one fails or there is none.
 *
 *      `ingest unsubscribe` is a Postfix pipe transport's command for mail
 *      to the List-Unsubscribe mailto address: it suppresses the recipients
 *      named by the token in the Subject, exits 0 for mail it cannot use
 *      (logged to syslog, facility mail) and 75 when the store fails.
 *
 *      Every read command takes --json. Every error is one line on stderr
 *      starting with a reason token (DOMAIN_NOT_FOUND, ...) and saying how
 *      to fix it; a refused command changes nothing.
 *
 * SECURITY
 *      Run as root or the outpost user: outpostctl writes the store and the
 *      DKIM key directory (files mode 0600). domain verify does its DNS
 *      look-ups and SPF evaluation in a confined child (dns/verify_child.h:
 *      no inherited files, nobody when root, Landlock where the kernel has
 *      it), which cannot read the keys or the store.
 *
 * FILES
 *      /etc/outpost/outpost.yaml   configuration (--config, $OUTPOST_CONFIG)
 *      store.path (/var/lib/outpost)        LMDB store
 *      store.keys (/var/lib/outpost/keys)   DKIM private keys
 *
 * EXIT STATUS
 *      One status per class of error, whatever the command (control/ctl.h):
 *      0 success; 1 usage error: the command line is wrong (unknown or
 *      missing command or option, missing or extra argument, a value an
 *      option or argument does not take: on/off, numbers, choices, domain
 *      names, addresses, networks; nothing to change); 2 not found; 3
 *      conflict (already exists, or the state forbids it); 4 is no longer
 *      used; 5 configuration error (every problem in the file, one line
 *      each); 6 environment error (store, key files, permissions); 7
 *      `domain verify`, `relay verify` or `message verify` checked and
 *      something is not verified (a record missing or wrong, DNS did not
 *      answer, a signature failed or missing); 75
 *      (EX_TEMPFAIL) `ingest` could not write the store (Postfix retries).
 *
 * SEE ALSO
 *      outpost-milter(8), outpost-trackd(8), outpost.yaml(5) (`outpostctl
 *      config example`), man/outpostctl.8, README.md
 */
#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <functional>
#include <iostream>

#include "control/ctl.h"
#include "control/lib/health.h"
#include "dns/records.h"
#include "dns/resolver.h"
#include "base/text.h"
#include "store/secrets.h"
#include "store/warmup.h"

namespace outpost::ctl {

std::string format_time(int64_t t) {
    if (t <= 0) return "-";
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
    return buf;
}

std::string day_text(const std::string& d) {
    return d.size() == 8 ? d.substr(0, 4) + "-" + d.substr(4, 2) + "-" + d.substr(6, 2) : d;
}

namespace {

const char* kFooter =
    "Exit status: 0 ok, 1 usage (the command line is wrong, values included),\n"
    "2 not found, 3 conflict, 5 configuration error, 6 environment error,\n"
    "7 checked and not verified (domain verify, relay verify, message verify).\n"
    "Configuration: --config FILE, else $OUTPOST_CONFIG, else /etc/outpost/outpost.yaml.\n"
    "See outpostctl(8) and outpost.yaml(5).";

std::optional<bool> on_off(const std::string& flag, const std::string& v) {
    if (v.empty()) return std::nullopt;
    if (v == "on" || v == "true" || v == "yes") return true;
    if (v == "off" || v == "false" || v == "no") return false;
    throw Error(Exit::usage, "VALUE_INVALID", flag + " takes on or off, not '" + v + "'");
}

void print_json(const nlohmann::json& j) {
    std::cout << j.dump(2) << '\n';
}

// The domain's own setting, else the configuration's.
int effective_warmup_days(const Domain& d, const Config& cfg) {
    return d.warmup_days >= 0 ? d.warmup_days : cfg.warmup.days;
}
int64_t effective_daily_cap(const Domain& d, const Config& cfg) {
    return d.daily_cap >= 0 ? d.daily_cap : cfg.warmup.cap;
}

HealthVerdict domain_health(Admin& a, const Domain& d, int64_t now) {
    auto t = a.store().read_counters();
    return health_verdict(a.config(), d,
                          health_rates(a.store(), t, d.name, a.config().health.window_days, now));
}

nlohmann::json domain_json(Admin& a, const Domain& d) {
    nlohmann::json j = d;
    const auto now = now_seconds();
    j["warmup"] = {{"days", effective_warmup_days(d, a.config())},
                   {"daily_cap", effective_daily_cap(d, a.config())},
                   {"day", warmup_day(d, now)},
                   {"limit_today", warmup_limit(d, a.config(), now)},
                   {"used_today", a.usage_today(d.name)}};
    j["health"] = health_json(domain_health(a, d, now));
    return j;
}

// The "health:" block of domain show: the figures the automatic suspension
// judges, against the thresholds that apply to this domain.
void print_health(const HealthVerdict& v) {
    const HealthRates& r = v.rates;
    const HealthThresholds& th = *v.thresholds;
    const std::string level = v.below_min_volume ? "below min volume" : to_string(v.level());
    std::string window = r.days == 0 ? "no day counted yet: reinstated today"
                                     : day_text(r.from_day) + " .. " + day_text(r.to_day) + " UTC, " +
                                           std::to_string(r.days) + (r.days == 1 ? " day" : " days");
    if (r.reinstated_at && r.days) window += " since reinstatement " + format_time(r.reinstated_at);
    std::printf("health:        %s (%s, %s-domain thresholds)\n", level.c_str(), window.c_str(),
                v.shared ? "shared" : "own");
    std::printf("  sent           %lld recipients (min volume %lld)\n", static_cast<long long>(r.sent),
                static_cast<long long>(v.min_volume));
    std::printf("  hard bounces   %lld (%s; warn above %s, suspend above %s)\n",
                static_cast<long long>(r.hard_bounces), percent_text(r.bounce_rate).c_str(),
                percent_text(th.bounce_warn).c_str(), percent_text(th.bounce_suspend).c_str());
    std::printf("  soft bounces   %lld\n", static_cast<long long>(r.soft_bounces));
    std::printf("  complaints     %lld (%s; warn above %s, suspend above %s)\n",
                static_cast<long long>(r.complaints), percent_text(r.complaint_rate).c_str(),
                percent_text(th.complaint_warn).c_str(), percent_text(th.complaint_suspend).c_str());
    if (!v.reason.empty()) std::printf("  reason         %s\n", v.reason.c_str());
}

void show_domain(Context& ctx, const std::string& name) {
    Admin& a = ctx.admin();
    Domain d = a.domain(name);
    if (ctx.json) return print_json(domain_json(a, d));
    const auto now = now_seconds();
    std::printf("domain:        %s%s\n", d.name.c_str(),
                d.unicode_name != d.name ? (" (" + d.unicode_name + ")").c_str() : "");
    std::printf("status:        %s%s%s\n", to_string(d.status), d.active ? "" : " (inactive)",
                d.status == DomainStatus::suspended ? (": " + d.suspended_reason).c_str() : "");
    if (d.status == DomainStatus::suspended)
        std::printf("suspended:     since %s: %s\n", format_time(d.status_changed_at).c_str(),
                    d.suspended_reason.c_str());
    std::printf("active:        %s\n", d.active ? "on" : "off (mail from it is refused: DOMAIN_INACTIVE)");
    std::printf("tenant:        %s\n", d.tenant.empty() ? "-" : d.tenant.c_str());
    std::printf("shared:        %s\n", d.shared ? "yes (usable by every tenant's keys)" : "no");
    std::printf("created:       %s\n", format_time(d.created_at).c_str());
    std::printf("verified:      %s\n", format_time(d.verified_at).c_str());
    std::printf("checked:       %s\n", format_time(d.checked_at).c_str());
    std::printf("status since:  %s\n", format_time(d.status_changed_at).c_str());
    const Config& cfg = a.config();
    const int64_t limit = warmup_limit(d, cfg, now);
    const int days = effective_warmup_days(d, cfg);
    const int64_t cap = effective_daily_cap(d, cfg);
    std::printf("warmup days:   %d%s%s\n", days, days == 0 ? " (no warmup)" : "",
                d.warmup_days < 0 ? " (config default warmup.days)" : "");
    std::printf("daily cap:     %s%s\n", cap <= 0 ? "none after warmup" : std::to_string(cap).c_str(),
                d.daily_cap < 0 ? " (config default warmup.cap)" : "");
    std::printf("warmup:        day %lld, today %lld of %s recipients\n",
                static_cast<long long>(warmup_day(d, now)), static_cast<long long>(a.usage_today(d.name)),
                limit < 0 ? "unlimited" : std::to_string(limit).c_str());
    std::printf("tracking:      opens %s, clicks %s, host %s\n", d.track_opens ? "on" : "off",
                d.track_clicks ? "on" : "off", tracking_host(d, cfg.records.tracking, cfg.tracking.host).c_str());
    std::printf("unsubscribe:   %s, footer %s\n", d.unsubscribe ? "on" : "off",
                d.unsubscribe_footer ? "on" : "off");
    std::printf("dmarc policy:  %s\n", d.dmarc_policy.c_str());
    std::printf("dmarc rua:     %s\n", d.rua.empty() ? "-" : d.rua.c_str());
    if (!d.existing_spf.empty()) std::printf("existing spf:  %s (merged into the advice)\n", d.existing_spf.c_str());
    print_health(domain_health(a, d, now));
    std::printf("selectors:\n");
    for (const auto& s : d.selectors)
        std::printf(
            "  %-16s %-8s %-9s created %s%s\n", s.name.c_str(), to_string(s.algorithm), to_string(s.state),
            format_time(s.created_at).c_str(),
            s.algorithm == KeyAlgorithm::rsa ? (", " + std::to_string(s.bits) + " bits").c_str() : "");
    if (!d.checks.empty()) {
        std::printf("checks (%s):\n", format_time(d.checked_at).c_str());
        for (const auto& c : d.checks)
            std::printf("  %-18s %-8s %s\n", c.name.c_str(), to_string(c.status),
                        c.status == CheckStatus::ok ? "" : c.hint.c_str());
    }
}

void print_records(Context& ctx, const std::string& name, const std::string& format) {
    Admin& a = ctx.admin();
    Domain d = a.domain(name);
    auto rs = domain_records(d, a.config());
    if (format == "json" || ctx.json)
        print_json(records_json(rs));
    else if (format == "bind")
        std::cout << "; outpost records for " << d.name << '\n' << records_bind(rs, a.config().records.ttl);
    else
        std::cout << records_table(rs);
}

void add_relay_commands(CLI::App& app, Context& ctx) {
    auto* relay = app.add_subcommand("relay", "what the relay itself publishes in DNS");
    relay->require_subcommand(1);
    auto* c = relay->add_subcommand("records",
                                    "print the relay's own records (SPF include, bounce and tracking hosts)");
    static std::string format = "table";
    c->add_option("--format", format, "table, json or bind")->check(CLI::IsMember({"table", "json", "bind"}));
    c->add_flag("--json", ctx.json, "same as --format json");
    c->callback([&ctx] {
        const Config& cfg = ctx.config();
        auto rs = relay_records(cfg);
        if (format == "json" || ctx.json)
            print_json(records_json(rs));
        else if (format == "bind")
            std::cout << "; outpost: the relay's own records\n" << records_bind(rs, cfg.records.ttl);
        else
            std::cout << records_table(rs);
    });
    register_relay_verify_command(*relay, ctx);
}

void add_domain_commands(CLI::App& app, Context& ctx) {
    auto* domain = app.add_subcommand("domain", "add, show, verify and manage sending domains");
    domain->require_subcommand(1);

    {
        auto* c = domain->add_subcommand("add", "add a domain, generate its DKIM keys, print its records");
        static std::string name;
        static AddDomainOptions o;
        c->add_option("domain", name, "the domain (IDN allowed)")->required();
        c->add_option("--tenant", o.tenant, "tenant that owns it");
        c->add_flag("--shared", o.shared, "usable by every tenant");
        c->add_option("--dmarc-policy", o.dmarc_policy, "none, quarantine or reject")
            ->check(CLI::IsMember({"none", "quarantine", "reject"}));
        c->add_option("--rua", o.rua, "DMARC aggregate report address");
        c->add_option("--selector", o.selector, "DKIM selector (default: prefix + date)");
        c->add_option("--algorithm", o.algorithm, "rsa, ed25519 or both")
            ->check(CLI::IsMember({"rsa", "ed25519", "both"}));
        c->add_option("--rsa-bits", o.rsa_bits, "RSA key size, 1024 to 4096 (default 2048)");
        c->add_flag("--json", ctx.json, "print the domain and its records as JSON");
        c->callback([&ctx] {
            Admin& a = ctx.admin();
            Domain d = a.add_domain(name, o);
            auto rs = domain_records(d, a.config());
            if (ctx.json) return print_json({{"domain", d}, {"records", records_json(rs)}});
            std::cout << "added " << d.name << " (pending); publish these records, then run "
                      << "`outpostctl domain verify " << d.name << "`:\n\n"
                      << records_table(rs);
        });
    }
    {
        auto* c = domain->add_subcommand("list", "list domains");
        static bool removed = false;
        c->add_flag("--removed", removed, "include removed domains");
        c->add_flag("--json", ctx.json, "JSON output");
        c->callback([&ctx] {
            auto ds = ctx.admin().domains(removed);
            if (ctx.json) {
                nlohmann::json a = nlohmann::json::array();
                for (const auto& d : ds) a.push_back(domain_json(ctx.admin(), d));
                return print_json(a);
            }
            std::printf("%-32s %-10s %-8s %-12s %s\n", "DOMAIN", "STATUS", "ACTIVE", "TENANT", "SELECTORS");
            for (const auto& d : ds) {
                std::string sels;
                for (const auto& s : d.selectors)
                    if (s.state != SelectorState::retired)
                        sels += (sels.empty() ? "" : ",") + s.name + "(" + to_string(s.state) + ")";
                std::printf("%-32s %-10s %-8s %-12s %s\n", d.name.c_str(),
                            d.deleted ? "removed" : to_string(d.status), d.active ? "yes" : "no",
                            d.tenant.empty() ? (d.shared ? "(shared)" : "-") : d.tenant.c_str(),
                            sels.c_str());
            }
        });
    }
    {
        auto* c = domain->add_subcommand("show", "show a domain's state, selectors, checks and usage");
        static std::string name;
        c->add_option("domain", name, "the domain")->required();
        c->add_flag("--json", ctx.json, "JSON output");
        c->callback([&ctx] { show_domain(ctx, name); });
    }
    {
        auto* c = domain->add_subcommand("records", "print the DNS records to publish");
        static std::string name, format = "table";
        c->add_option("domain", name, "the domain")->required();
        c->add_option("--format", format, "table, json or bind")
            ->check(CLI::IsMember({"table", "json", "bind"}));
        c->add_flag("--json", ctx.json, "same as --format json");
        c->callback([&ctx] { print_records(ctx, name, format); });
    }
    {
        auto* c = domain->add_subcommand("set", "change a domain's settings");
        static std::string name, active, opens, clicks, unsub, footer;
        static SetDomainOptions o;
        static std::string policy;
        static int days = -1;
        static int64_t cap = -1;
        c->add_option("domain", name, "the domain")->required();
        c->add_option("--active", active, "on or off: the administrator's switch");
        c->add_option("--track-opens", opens, "on or off");
        c->add_option("--track-clicks", clicks, "on or off");
        c->add_option("--unsubscribe", unsub, "on or off: add List-Unsubscribe");
        c->add_option("--unsubscribe-footer", footer,
                      "on or off: add an unsubscribe footer to messages without the placeholder");
        c->add_option("--dmarc-policy", policy, "none, quarantine or reject")
            ->check(CLI::IsMember({"none", "quarantine", "reject"}));
        c->add_option("--warmup-days", days, "warmup length for this domain (0 = none)");
        c->add_option("--daily-cap", cap, "daily recipient cap (0 = none after warmup)");
        c->callback([&ctx] {
            o.active = on_off("--active", active);
            o.track_opens = on_off("--track-opens", opens);
            o.track_clicks = on_off("--track-clicks", clicks);
            o.unsubscribe = on_off("--unsubscribe", unsub);
            o.unsubscribe_footer = on_off("--unsubscribe-footer", footer);
            if (!policy.empty()) o.dmarc_policy = policy;
            if (days != -1) o.warmup_days = days;
            if (cap != -1) o.daily_cap = cap;
            Domain d = ctx.admin().set_domain(name, o);
            std::cout << "updated " << d.name << '\n';
        });
    }
    {
        auto* dkim = domain->add_subcommand("dkim", "rotate or retire DKIM selectors");
        dkim->require_subcommand(1);
        auto* r = dkim->add_subcommand("rotate", "add a new selector (pending until its record verifies)");
        static std::string name, alg;
        r->add_option("domain", name, "the domain")->required();
        r->add_option("--algorithm", alg, "rsa, ed25519 or both (default: as now)")
            ->check(CLI::IsMember({"rsa", "ed25519", "both"}));
        r->callback([&ctx] {
            Selector s = ctx.admin().rotate_dkim(name, alg);
            Domain d = ctx.admin().domain(name);
            std::cout << "new selector " << s.name << " for " << d.name
                      << " is pending; publish it, then run `outpostctl domain verify " << d.name << "`:\n\n";
            std::vector<DnsRecord> rs;
            for (const auto& rec : domain_records(d, ctx.config()))
                if (rec.purpose == "dkim" && rec.host.rfind(s.name + "._domainkey.", 0) == 0)
                    rs.push_back(rec);
            std::cout << records_table(rs);
        });
        auto* t = dkim->add_subcommand("retire", "stop publishing an old selector");
        static std::string tname, sel;
        t->add_option("domain", tname, "the domain")->required();
        t->add_option("selector", sel, "the selector")->required();
        t->callback([&ctx] {
            ctx.admin().retire_dkim(tname, sel);
            std::cout << "retired selector " << sel << "; its TXT record can be removed from DNS\n";
        });
    }
    {
        auto* c = domain->add_subcommand("remove", "remove a domain (its history is kept)");
        static std::string name;
        c->add_option("domain", name, "the domain")->required();
        c->callback([&ctx] {
            ctx.admin().remove_domain(name);
            std::cout << "removed " << name << "; mail from it is refused from now on\n";
        });
    }
    {
        auto* c = domain->add_subcommand("suspend", "refuse the domain's mail until reinstated");
        static std::string name, reason;
        c->add_option("domain", name, "the domain")->required();
        c->add_option("--reason", reason, "why (shown by domain show and in the log)");
        c->callback([&ctx] {
            ctx.admin().suspend_domain(name, reason);
            std::cout << "suspended " << name << "; its mail is refused with DOMAIN_SUSPENDED until "
                      << "`outpostctl domain reinstate " << name << "`\n";
        });
    }
    {
        auto* c = domain->add_subcommand("reinstate", "lift a suspension");
        static std::string name;
        c->add_option("domain", name, "the domain")->required();
        c->callback([&ctx] {
            ctx.admin().reinstate_domain(name);
            std::cout << "reinstated " << name << '\n';
        });
    }
    register_verify_commands(*domain, ctx);
}

void add_tenant_commands(CLI::App& app, Context& ctx) {
    auto* tenant = app.add_subcommand("tenant", "manage tenants");
    tenant->require_subcommand(1);
    static std::string name;
    auto* add = tenant->add_subcommand("add", "add a tenant");
    add->add_option("name", name, "tenant name")->required();
    add->callback([&ctx] {
        ctx.admin().add_tenant(name);
        std::cout << "added tenant " << name << '\n';
    });
    auto* list = tenant->add_subcommand("list", "list tenants");
    list->add_flag("--json", ctx.json, "JSON output");
    list->callback([&ctx] {
        auto ts = ctx.admin().tenants();
        if (ctx.json) return print_json(ts);
        std::printf("%-24s %s\n", "TENANT", "CREATED");
        for (const auto& t : ts) std::printf("%-24s %s\n", t.name.c_str(), format_time(t.created_at).c_str());
    });
    auto* rm = tenant->add_subcommand("remove", "remove a tenant with no domains or keys");
    rm->add_option("name", name, "tenant name")->required();
    rm->callback([&ctx] {
        ctx.admin().remove_tenant(name);
        std::cout << "removed tenant " << name << '\n';
    });
}

void print_key(const ApiKey& k) {
    auto join = [](const std::vector<std::string>& v) {
        std::string s;
        for (const auto& e : v) s += (s.empty() ? "" : ", ") + e;
        return s.empty() ? std::string("-") : s;
    };
    std::printf("key:       %s\n", k.name.c_str());
    std::printf("sandbox:   %s\n", k.sandbox ? "yes (mail is diverted; domains need not be verified)" : "no");
    std::printf("tenant:    %s\n", k.tenant.empty() ? "-" : k.tenant.c_str());
    std::printf("domains:   %s\n",
                k.allowed_domains.empty() ? "(all of its tenant's)" : join(k.allowed_domains).c_str());
    std::printf("sasl:      %s\n", k.sasl.empty() ? "-" : k.sasl.c_str());
    std::printf("networks:  %s\n", join(k.cidrs).c_str());
    std::printf("created:   %s\n", format_time(k.created_at).c_str());
}

nlohmann::json key_json(const ApiKey& k) {
    nlohmann::json j = k;
    j.erase("secret_hash");
    return j;
}

void add_key_commands(CLI::App& app, Context& ctx) {
    auto* key = app.add_subcommand("key", "manage API keys (sender identities)");
    key->require_subcommand(1);
    static std::string name;
    static AddKeyOptions o;
    auto* add = key->add_subcommand("add", "add a key; its secret is printed once");
    add->add_option("name", name, "key name")->required();
    add->add_option("--tenant", o.tenant, "tenant the key belongs to");
    add->add_option("--allow", o.allow, "domains the key may send from (default: its tenant's)");
    add->add_option("--sasl", o.sasl, "SASL login that identifies this key");
    add->add_option("--cidr", o.cidrs, "client networks that identify this key");
    add->add_flag("--sandbox", o.sandbox, "sandbox: mail is diverted, domains need not be verified");
    add->add_flag("--json", ctx.json, "JSON output");
    add->callback([&ctx] {
        auto [k, secret] = ctx.admin().add_key(name, o);
        if (ctx.json) {
            auto j = key_json(k);
            j["secret"] = std::move(secret);
            print_json(j);
            wipe(j["secret"].get_ref<std::string&>());
            return;
        }
        print_key(k);
        std::printf(
            "secret:    %s\n\nThe secret is shown only now; outpost keeps only its hash.\n"
            "Senders put it in an X-Outpost-Key header (removed before delivery).\n",
            secret.c_str());
        wipe(secret);
    });
    auto* list = key->add_subcommand("list", "list keys");
    list->add_flag("--json", ctx.json, "JSON output");
    list->callback([&ctx] {
        auto ks = ctx.admin().keys();
        if (ctx.json) {
            nlohmann::json a = nlohmann::json::array();
            for (const auto& k : ks) a.push_back(key_json(k));
            return print_json(a);
        }
        std::printf("%-20s %-12s %-8s %-16s %-24s %s\n", "KEY", "TENANT", "SANDBOX", "SASL", "NETWORKS",
                    "DOMAINS");
        for (const auto& k : ks) {
            std::string ds, nets;
            for (const auto& d : k.allowed_domains) ds += (ds.empty() ? "" : ",") + d;
            for (const auto& c : k.cidrs) nets += (nets.empty() ? "" : ",") + c;
            std::printf("%-20s %-12s %-8s %-16s %-24s %s\n", k.name.c_str(),
                        k.tenant.empty() ? "-" : k.tenant.c_str(), k.sandbox ? "yes" : "no",
                        k.sasl.empty() ? "-" : k.sasl.c_str(), nets.empty() ? "-" : nets.c_str(),
                        ds.empty() ? "(tenant's)" : ds.c_str());
        }
    });
    auto* show = key->add_subcommand("show", "show a key");
    show->add_option("name", name, "key name")->required();
    show->add_flag("--json", ctx.json, "JSON output");
    show->callback([&ctx] {
        ApiKey k = ctx.admin().key(name);
        if (ctx.json) return print_json(key_json(k));
        print_key(k);
    });
    auto* rm = key->add_subcommand("remove", "remove a key");
    rm->add_option("name", name, "key name")->required();
    rm->callback([&ctx] {
        ctx.admin().remove_key(name);
        std::cout << "removed key " << name << '\n';
    });
}

void add_suppression_commands(CLI::App& app, Context& ctx) {
    auto* sup = app.add_subcommand("suppression", "recipients never to send to, per domain");
    sup->require_subcommand(1);
    static std::string domain, address, reason = "manual";
    auto* add = sup->add_subcommand("add", "suppress an address for a domain");
    add->add_option("domain", domain, "sending domain")->required();
    add->add_option("address", address, "recipient address")->required();
    add->add_option("--reason", reason, "why (kept with the entry)");
    add->callback([&ctx] {
        ctx.admin().suppress(domain, address, reason);
        std::cout << "suppressed " << address << " for " << domain << '\n';
    });
    auto* rm = sup->add_subcommand("remove", "lift a suppression");
    rm->add_option("domain", domain, "sending domain")->required();
    rm->add_option("address", address, "recipient address")->required();
    rm->callback([&ctx] {
        ctx.admin().unsuppress(domain, address);
        std::cout << "unsuppressed " << address << " for " << domain << '\n';
    });
    auto* list = sup->add_subcommand("list", "list suppressed addresses of a domain");
    list->add_option("domain", domain, "sending domain")->required();
    list->add_flag("--json", ctx.json, "JSON output");
    list->callback([&ctx] {
        auto all = ctx.admin().suppressions(domain);
        if (ctx.json) {
            nlohmann::json a = nlohmann::json::array();
            for (auto& [addr, e] : all) {
                auto j = e;
                j["address"] = addr;
                a.push_back(j);
            }
            return print_json(a);
        }
        std::printf("%-40s %-20s %s\n", "ADDRESS", "SUPPRESSED", "REASON");
        for (auto& [addr, e] : all) {
            // The reason given (manual, bounce, complaint, unsubscribe, or
            // --reason's text), with the detail the automatic ones keep.
            std::string why = e.value("reason", "-");
            const std::string detail = e.value("detail", e.value("source", ""));
            if (!detail.empty()) why += " (" + detail + ")";
            std::printf("%-40s %-20s %s\n", addr.c_str(), format_time(e.value("at", int64_t(0))).c_str(),
                        why.c_str());
        }
    });
}

void add_config_commands(CLI::App& app, Context& ctx) {
    auto* cfg = app.add_subcommand("config", "check or print the configuration");
    cfg->require_subcommand(1);
    cfg->add_subcommand("check",
                        "load the configuration (every problem, one line each), set up the resolver, "
                        "open the store, read every DKIM key")
        ->callback([&ctx] {
            // The loader lists every problem of the file (exit 5). Then what
            // the binaries set up from it: each failure is reported, and the
            // next one is still tried.
            const Config& c = ctx.config();
            std::vector<Error> problems;
            auto attempt = [&](const std::function<void()>& f) {
                try {
                    f();
                } catch (const Error& e) {
                    problems.push_back(e);
                }
            };
            // What `domain verify` and `relay verify` build: dns.upstream, dns.trust_anchor.
            attempt([&] { dns::Resolver r(dns::resolver_options(c)); });
            size_t keys = 0;
            attempt([&] { keys = ctx.admin().check_keys(); });
            if (problems.empty()) {
                // Loads and works, but may still describe the example relay.
                const auto left = example_values_left(c);
                for (const auto& line : left) std::fprintf(stderr, "outpostctl: EXAMPLE_VALUE: %s\n", line.c_str());
                std::cout << c.source << ": ok (store " << c.store.path << ", " << keys << " DKIM keys)";
                if (!left.empty())
                    std::cout << "; " << left.size()
                              << " setting(s) still the example's: set them before enabling the units";
                std::cout << '\n';
                return;
            }
            Exit worst = Exit::environment;
            for (const auto& e : problems) {
                for (const auto& line : lines_of(e.what())) std::fprintf(stderr, "outpostctl: %s\n", line.c_str());
                if (e.status() == Exit::config) worst = Exit::config;
            }
            ctx.exit_status = static_cast<int>(worst);
        });
    cfg->add_subcommand("example", "print an example configuration with every key")->callback([] {
        std::cout << example_config();
    });
}

}  // namespace
}  // namespace outpost::ctl

int main(int argc, char** argv) {
    using namespace outpost;
    ctl::Context ctx;
    CLI::App app{"outpostctl - manage outpost's sending domains, keys, tenants and suppression lists"};
    app.name("outpostctl");
    app.footer(ctl::kFooter);
    app.require_subcommand(1);
    app.add_option("--config", ctx.config_path,
                   "configuration file (default: $OUTPOST_CONFIG, "
                   "else /etc/outpost/outpost.yaml)");
    app.set_version_flag("--version", OUTPOST_VERSION);
    ctl::add_domain_commands(app, ctx);
    ctl::add_relay_commands(app, ctx);
    ctl::add_tenant_commands(app, ctx);
    ctl::add_key_commands(app, ctx);
    ctl::add_suppression_commands(app, ctx);
    ctl::add_config_commands(app, ctx);
    ctl::register_tracking_commands(app, ctx);
    ctl::register_stats_commands(app, ctx);
    ctl::register_ingest_commands(app, ctx);
    ctl::register_events_commands(app, ctx);
    ctl::register_message_commands(app, ctx);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "outpostctl: %s\n",
                     ctl::usage_error_line(app, std::vector<std::string>(argv + 1, argv + argc), e).c_str());
        return static_cast<int>(Exit::usage);
    } catch (const Error& e) {
        // One line per problem (a configuration file may have several).
        for (const auto& line : lines_of(e.what())) std::fprintf(stderr, "outpostctl: %s\n", line.c_str());
        return ctl::exit_status(e.status());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "outpostctl: internal error: %s\n", e.what());
        return static_cast<int>(Exit::environment);
    }
    return ctx.exit_status;
}
