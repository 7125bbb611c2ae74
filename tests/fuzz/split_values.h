// split_values.h - the input of the targets that take several values (From
// headers, TXT texts): the values separated by "\n--\n", so that a value
// may hold any octet, NUL included.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace outpost::fuzz {

// At most `max` values; what follows the last separator kept is the last one.
inline std::vector<std::string> split_values(const uint8_t* data, size_t size, size_t max) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> values;
    for (;;) {
        const size_t at = in.find("\n--\n");
        values.emplace_back(in.substr(0, at));
        if (at == std::string_view::npos || values.size() == max) break;
        in.remove_prefix(at + 4);
    }
    return values;
}

}  // namespace outpost::fuzz
