// trackd_log.h - outpost-trackd's log: syslog (facility mail, ident
// outpost-trackd) or, in the foreground, stderr with a UTC time stamp.
//
// One line per event; request lines read like Postfix's, key=value after a
// few positional words:
//     GET open 200 domain=example.com class=human client=192.0.2.7
// Values that came from outside pass through log_value() first. Thread-safe.
//
// This is a small copy of the milter's logger (milter/log.h), which lives in
// the milter library that trackd must not link; the two could become one
// logger with an ident parameter in a shared place.
#pragma once

#include <string>
#include <string_view>

namespace outpost::trackd {

// Call once at start: foreground logs to stderr, otherwise to syslog.
void log_open(bool foreground);
void log_info(const std::string& line);
void log_warning(const std::string& line);
void log_error(const std::string& line);

// A value made safe for a log line: control characters escaped, quoted if it
// holds spaces, quotes or '='; cut at 200 bytes; "-" if empty.
std::string log_value(std::string_view v);

}  // namespace outpost::trackd
