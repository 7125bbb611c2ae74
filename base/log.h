// log.h - the daemons' log (outpost-milter, outpost-trackd): syslog
// (facility log.facility, mail by default, so lines sit beside Postfix's in
// mail.log) or, in the foreground, stderr.
//
// One line per event, in key=value form so they can be grepped and parsed.
// The milter's message decisions start with the MTA queue id:
//     4XyZ1: decision=accept domain=example.com key=app1 rcpts=1 signed=op20261122
// trackd's request lines start with a few positional words:
//     GET open 200 domain=example.com class=human client=192.0.2.7
// Values with spaces or quotes are quoted. Thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace outpost {

enum class LogLevel { debug, info, warning, error };

// Call once at start: foreground logs to stderr, otherwise to syslog under
// `ident` (a string that lives as long as the process), facility mail until
// log_facility() names another. On stderr each line gets a UTC time stamp,
// except when stderr is the systemd journal ($JOURNAL_STREAM): the journal
// stamps lines itself and reads the level from a "<N>" prefix.
void log_open(const char* ident, bool foreground, bool debug);

// The syslog facility code of a log.facility name (mail, daemon, user,
// local0..local7), or -1.
int log_facility_code(std::string_view name);

// Switch syslog to that facility (after the configuration is read). An
// unknown name leaves it unchanged and returns false.
bool log_facility(std::string_view name);
void log(LogLevel level, const std::string& line);

inline void log_info(const std::string& s) {
    log(LogLevel::info, s);
}
inline void log_warning(const std::string& s) {
    log(LogLevel::warning, s);
}
inline void log_error(const std::string& s) {
    log(LogLevel::error, s);
}

// A key=value line under construction.
class LogLine {
public:
    explicit LogLine(std::string_view prefix);
    LogLine& kv(std::string_view key, std::string_view value);
    LogLine& kv(std::string_view key, long long value);
    const std::string& str() const { return line_; }

private:
    std::string line_;
};

// A value made safe for a log line: control characters escaped, quoted if it
// holds spaces, quotes or '='; cut at 200 bytes.
std::string log_value(std::string_view v);

}  // namespace outpost
