// ctl_usage.cpp - one line for every command-line mistake.
//
// CLI11 (Debian 12: libcli11-dev 2.1) says "A subcommand is required" or
// "The following arguments were not expected: domian list" and suggests
// nothing. outpostctl walks the words itself, against the same command
// tree, and prints one line: a reason token (UNKNOWN_COMMAND,
// MISSING_COMMAND, UNKNOWN_OPTION, MISSING_ARGUMENT, UNEXPECTED_ARGUMENT,
// VALUE_INVALID), what was typed, the nearest valid commands or options
// ("did you mean `outpostctl domain list`?") and the valid choices. All of
// them exit 1 (usage error, see ctl.h).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "control/ctl.h"

namespace outpost::ctl {
namespace {

// Optimal string alignment distance: a swap of two neighbours ("lsit") is one edit.
size_t edit_distance(const std::string& a, const std::string& b) {
    const size_t n = a.size(), m = b.size();
    std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
    for (size_t i = 0; i <= n; ++i) d[i][0] = i;
    for (size_t j = 0; j <= m; ++j) d[0][j] = j;
    for (size_t i = 1; i <= n; ++i)
        for (size_t j = 1; j <= m; ++j) {
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    return d[n][m];
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

}  // namespace

std::vector<std::string> nearest_words(const std::string& typed_in, const std::vector<std::string>& candidates) {
    const std::string typed = lower(typed_in);
    std::vector<std::string> out;
    if (typed.empty()) return out;
    // A prefix of exactly one candidate ("dom") is what was meant.
    std::vector<std::string> prefixed;
    for (const auto& c : candidates)
        if (typed.size() >= 2 && c.rfind(typed, 0) == 0) prefixed.push_back(c);
    if (prefixed.size() == 1) return prefixed;
    const size_t limit = typed.size() <= 3 ? 1 : typed.size() <= 6 ? 2 : 3;
    size_t best = limit + 1;
    for (const auto& c : candidates) {
        const size_t d = edit_distance(typed, lower(c));
        if (d < best) {
            best = d;
            out.clear();
        }
        if (d == best) out.push_back(c);
    }
    if (best > limit) out.clear();
    return out;
}

namespace {

std::vector<CLI::App*> commands_of(CLI::App* a) {
    return a->get_subcommands([](CLI::App* s) { return !s->get_name().empty() && !s->get_disabled(); });
}

CLI::App* command_named(CLI::App* a, const std::string& name) {
    for (auto* s : commands_of(a))
        if (s->check_name(name)) return s;
    return nullptr;
}

std::vector<std::string> names(const std::vector<CLI::App*>& apps) {
    std::vector<std::string> out;
    for (auto* s : apps) out.push_back(s->get_name());
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> option_names(const CLI::App* a) {
    std::vector<std::string> out;
    for (const auto* o : a->get_options()) {
        if (!o->nonpositional()) continue;
        for (const auto& l : o->get_lnames()) out.push_back("--" + l);
        for (const auto& s : o->get_snames()) out.push_back("-" + s);
    }
    return out;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
    std::string s;
    for (const auto& e : v) s += (s.empty() ? "" : sep) + e;
    return s;
}

// "`outpostctl domain list`" or "`outpostctl domain show` or `outpostctl domain set`".
std::string alternatives(const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i)
        s += (i == 0 ? "" : i + 1 == v.size() ? " or " : ", ") + ("`" + v[i] + "`");
    return s;
}

std::string command_text(const std::vector<std::string>& path) {
    std::string s = "outpostctl";
    for (const auto& p : path) s += " " + p;
    return s;
}

std::string help_hint(const std::vector<std::string>& path) {
    return "see `" + command_text(path) + " --help`";
}

std::string unknown_command(CLI::App* cur, const std::vector<std::string>& path, const std::string& typed,
                            const std::string& next) {
    const auto cmds = commands_of(cur);
    std::vector<std::string> meant;
    for (const auto& n : nearest_words(typed, names(cmds))) {
        std::vector<std::string> p = path;
        p.push_back(n);
        // `domian list`: suggest the whole command when the next word fits.
        CLI::App* s = command_named(cur, n);
        if (!next.empty() && s && command_named(s, next)) p.push_back(command_named(s, next)->get_name());
        meant.push_back(command_text(p));
    }
    std::string line = "UNKNOWN_COMMAND: `" + command_text(path) + " " + typed + "`: '" + typed +
                       "' is not a command of " + command_text(path) + ";";
    if (!meant.empty()) line += " did you mean " + alternatives(meant) + "?";
    line += " commands: " + join(names(cmds), ", ") + "; " + help_hint(path);
    return line;
}

std::string missing_command(CLI::App* cur, const std::vector<std::string>& path) {
    const auto cmds = names(commands_of(cur));
    std::vector<std::string> example = path;
    example.push_back(std::find(cmds.begin(), cmds.end(), "list") != cmds.end() ? "list" : cmds.front());
    return "MISSING_COMMAND: `" + command_text(path) + "` needs a command: " + join(cmds, ", ") + " (e.g. `" +
           command_text(example) + "`); " + help_hint(path);
}

std::string unknown_option(CLI::App* cur, const std::vector<std::string>& path, const std::string& typed) {
    std::string line = "UNKNOWN_OPTION: `" + command_text(path) + "` has no option " + typed + ";";
    // An option of a command above this one goes before its subcommand.
    std::vector<std::string> above;
    for (CLI::App* a = cur->get_parent(); a; a = a->get_parent())
        if (a->get_option_no_throw(typed)) {
            std::vector<std::string> p;
            for (CLI::App* b = a; b && b->get_parent(); b = b->get_parent()) p.insert(p.begin(), b->get_name());
            line += " " + typed + " is an option of `" + command_text(p) + "`: put it before `" +
                    path.at(p.size()) + "`;";
            return line + " " + help_hint(path);
        }
    const auto opts = option_names(cur);
    const auto meant = nearest_words(typed, opts);
    if (!meant.empty()) line += " did you mean " + alternatives(meant) + "?";
    std::vector<std::string> longs;
    for (const auto& o : opts)
        if (o.rfind("--", 0) == 0) longs.push_back(o);
    line += " options: " + join(longs, ", ") + "; " + help_hint(path);
    return line;
}

}  // namespace

std::string usage_error_line(CLI::App& app, const std::vector<std::string>& args, const CLI::ParseError& e) {
    CLI::App* cur = &app;
    std::vector<std::string> path;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& tok = args[i];
        if (tok == "--") break;
        if (tok.size() > 1 && tok[0] == '-' && !(tok[1] >= '0' && tok[1] <= '9')) {
            const std::string name = tok.substr(0, tok.find('='));
            const CLI::Option* o = cur->get_option_no_throw(name);
            if (!o) return unknown_option(cur, path, name);
            if (o->get_type_size() != 0 && tok.find('=') == std::string::npos) ++i;  // its value
            continue;
        }
        if (commands_of(cur).empty()) continue;  // an argument of a leaf command
        if (CLI::App* s = command_named(cur, tok)) {
            cur = s;
            path.push_back(s->get_name());
            continue;
        }
        return unknown_command(cur, path, tok, i + 1 < args.size() ? args[i + 1] : "");
    }
    if (!commands_of(cur).empty() && cur->get_require_subcommand_min() > 0) return missing_command(cur, path);

    const std::string what = e.what();
    const std::string where = "`" + command_text(path) + "`: ";
    if (dynamic_cast<const CLI::ValidationError*>(&e) || dynamic_cast<const CLI::ConversionError*>(&e))
        return "VALUE_INVALID: " + where + what + "; " + help_hint(path);
    if (dynamic_cast<const CLI::RequiredError*>(&e) || dynamic_cast<const CLI::ArgumentMismatch*>(&e))
        return "MISSING_ARGUMENT: " + where + what + "; " + help_hint(path);
    if (dynamic_cast<const CLI::ExtrasError*>(&e))
        return "UNEXPECTED_ARGUMENT: " + where + what + "; " + help_hint(path);
    return "USAGE: " + where + what + "; " + help_hint(path);
}

}  // namespace outpost::ctl
