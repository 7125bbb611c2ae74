// log.cpp - syslog or stderr, one line at a time.
#include "base/log.h"

#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace outpost {
namespace {

std::mutex g_mutex;
bool g_foreground = true;
bool g_debug = false;
bool g_journal = false;  // stderr is the journal: no time stamp, "<N>" level prefix
int g_facility = LOG_MAIL;
const char* g_ident = "outpost";

int priority(LogLevel l) {
    switch (l) {
        case LogLevel::debug:
            return LOG_DEBUG;
        case LogLevel::info:
            return LOG_INFO;
        case LogLevel::warning:
            return LOG_WARNING;
        case LogLevel::error:
            return LOG_ERR;
    }
    return LOG_INFO;
}

const char* label(LogLevel l) {
    switch (l) {
        case LogLevel::debug:
            return "debug: ";
        case LogLevel::info:
            return "";
        case LogLevel::warning:
            return "warning: ";
        case LogLevel::error:
            return "error: ";
    }
    return "";
}

}  // namespace

// True when stderr is the stream systemd gave us to the journal:
// $JOURNAL_STREAM is "DEVICE:INODE" of that stream.
bool stderr_is_journal() {
    const char* js = std::getenv("JOURNAL_STREAM");
    if (!js) return false;
    struct stat st {};
    if (::fstat(STDERR_FILENO, &st) != 0) return false;
    unsigned long long dev = 0, ino = 0;
    if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
    return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

void log_open(const char* ident, bool foreground, bool debug) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_ident = ident;
    g_foreground = foreground;
    g_debug = debug;
    g_journal = foreground && stderr_is_journal();
    if (!foreground) openlog(ident, LOG_PID | LOG_NDELAY, g_facility);
}

int log_facility_code(std::string_view name) {
    static const std::pair<std::string_view, int> names[] = {
        {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},     {"local0", LOG_LOCAL0},
        {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},
        {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7}};
    for (const auto& [n, code] : names)
        if (n == name) return code;
    return -1;
}

bool log_facility(std::string_view name) {
    const int code = log_facility_code(name);
    if (code < 0) return false;
    std::lock_guard<std::mutex> lock(g_mutex);
    if (code == g_facility) return true;
    g_facility = code;
    if (!g_foreground) {
        closelog();
        openlog(g_ident, LOG_PID | LOG_NDELAY, g_facility);
    }
    return true;
}

void log(LogLevel level, const std::string& line) {
    if (level == LogLevel::debug && !g_debug) return;
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_journal) {
        std::fprintf(stderr, "<%d>%s%s\n", priority(level), label(level), line.c_str());
        std::fflush(stderr);
    } else if (g_foreground) {
        auto now = std::chrono::system_clock::now();
        std::time_t tt = std::chrono::system_clock::to_time_t(now);
        auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
        std::tm tm{};
        gmtime_r(&tt, &tm);
        char ts[32];
        std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
        std::fprintf(stderr, "%s.%03lldZ %s: %s%s\n", ts, static_cast<long long>(ms), g_ident, label(level),
                     line.c_str());
        std::fflush(stderr);
    } else {
        syslog(priority(level), "%s%s", label(level), line.c_str());
    }
}

std::string log_value(std::string_view v) {
    std::string out;
    bool quote = v.empty();
    for (unsigned char c : v.substr(0, 200)) {
        if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
            continue;
        }
        if (c == ' ' || c == '=' || c == '"') quote = true;
        if (c == '"' || c == '\\') out += '\\';
        out += static_cast<char>(c);
    }
    if (v.size() > 200) out += "...";
    return quote ? "\"" + out + "\"" : out;
}

LogLine::LogLine(std::string_view prefix) : line_(prefix) {
    line_ += ':';
}

LogLine& LogLine::kv(std::string_view key, std::string_view value) {
    line_ += ' ';
    line_ += key;
    line_ += '=';
    line_ += log_value(value);
    return *this;
}

LogLine& LogLine::kv(std::string_view key, long long value) {
    line_ += ' ';
    line_ += key;
    line_ += '=';
    line_ += std::to_string(value);
    return *this;
}

}  // namespace outpost
