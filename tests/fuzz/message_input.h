// message_input.h - the input of the targets that take a whole message: one
// octet of options, then the header section up to the first CRLF CRLF (its
// last CRLF kept), the body after it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace outpost::fuzz {

struct MessageInput {
    uint8_t flags = 0;
    std::string_view headers;  // "Name: value\r\n" lines, as the MTA gives them
    std::string_view body;     // empty when there is no blank line
};

// False when the input is empty or over `max` octets.
inline bool message_input(const uint8_t* data, size_t size, size_t max, MessageInput& out) {
    if (size < 1 || size > max) return false;
    out.flags = data[0];
    const std::string_view raw(reinterpret_cast<const char*>(data) + 1, size - 1);
    const size_t blank = raw.find("\r\n\r\n");
    out.headers = blank == std::string_view::npos ? raw : raw.substr(0, blank + 2);
    out.body = blank == std::string_view::npos ? std::string_view() : raw.substr(blank + 4);
    return true;
}

}  // namespace outpost::fuzz
