// trackd_log.cpp - syslog or stderr, one line at a time.
#include "control/lib/trackd_log.h"

#include <syslog.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace outpost::trackd {
namespace {

std::mutex g_mutex;
bool g_foreground = true;

void emit(int priority, const char* label, const std::string& line) {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_foreground) {
        syslog(priority, "%s%s", label, line.c_str());
        return;
    }
    const auto now = std::chrono::system_clock::now();
    const std::time_t tt = std::chrono::system_clock::to_time_t(now);
    const long long ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char ts[32];
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    std::fprintf(stderr, "%s.%03lldZ outpost-trackd: %s%s\n", ts, ms, label, line.c_str());
    std::fflush(stderr);
}

}  // namespace

void log_open(bool foreground) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_foreground = foreground;
    if (!foreground) openlog("outpost-trackd", LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void log_info(const std::string& line) {
    emit(LOG_INFO, "", line);
}
void log_warning(const std::string& line) {
    emit(LOG_WARNING, "warning: ", line);
}
void log_error(const std::string& line) {
    emit(LOG_ERR, "error: ", line);
}

std::string log_value(std::string_view v) {
    if (v.empty()) return "-";
    std::string out;
    bool quote = false;
    for (unsigned char c : v.substr(0, 200)) {
        if (c < 0x20 || c >= 0x7f) {
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

}  // namespace outpost::trackd
