// text.h - the small ASCII text helpers every layer uses (reports, trackd,
// the milter): one lower-casing, one trim.
#pragma once

#include <cctype>
#include <string>
#include <string_view>
#include <vector>

namespace outpost {

// ASCII lower case (bytes >= 0x80 unchanged).
inline std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// Without leading and trailing white space (space, tab, CR, LF, VT, FF).
inline std::string trim(std::string_view s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return std::string(s.substr(b, e - b));
}

// The lines of a text (a multi-line error: one output line each, each with
// the program's prefix).
inline std::vector<std::string> lines_of(std::string_view s) {
    std::vector<std::string> out;
    while (!s.empty()) {
        const size_t nl = s.find('\n');
        out.emplace_back(s.substr(0, nl));
        if (nl == std::string_view::npos) break;
        s.remove_prefix(nl + 1);
    }
    return out;
}

}  // namespace outpost
