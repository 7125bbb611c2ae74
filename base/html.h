// html.h - the one HTML escape, for what outpost writes into HTML (tracked
// links and pixels in mail, outpost-trackd's pages).
#pragma once

#include <string>
#include <string_view>

namespace outpost {

// `s` made safe inside a quoted HTML attribute value or text (& " ' < >).
std::string html_escape(std::string_view s);

}  // namespace outpost
