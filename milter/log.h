// log.h - outpost-milter's log: syslog (mail facility) or stderr.
//
// One line per event. Message decisions start with the MTA queue id and
// continue in key=value form, so they can be grepped and parsed:
//     4XyZ1: decision=accept domain=example.com key=app1 rcpts=1 signed=op20261122
// Values with spaces or quotes are quoted. Thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace outpost::milter {

enum class LogLevel { debug, info, warning, error };

// Call once at start: foreground logs to stderr, otherwise to syslog.
void log_open(bool foreground, bool debug);
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

}  // namespace outpost::milter
