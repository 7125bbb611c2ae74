// sendmail_headers.cpp - the address-list form Sendmail keeps.
#include "milter/sendmail_headers.h"

#include <array>
#include <vector>

namespace outpost::milter {
namespace {

bool wsp(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && wsp(s.front())) s.remove_prefix(1);
    while (!s.empty() && wsp(s.back())) s.remove_suffix(1);
    return s;
}

// The length of `s` without its trailing white space, except a white space
// escaped by a backslash ("a\ "), which belongs to the text: cutting it
// would leave the backslash to escape whatever follows (a quote, a comma).
size_t trimmed_end(std::string_view s) {
    size_t end = s.size();
    while (end > 0 && wsp(s[end - 1])) --end;
    size_t escapes = 0;
    while (escapes < end && s[end - 1 - escapes] == '\\') ++escapes;
    if (escapes % 2 == 1 && end < s.size()) ++end;
    return end;
}

// trim(), keeping an escaped trailing white space.
std::string_view trim_text(std::string_view s) {
    while (!s.empty() && wsp(s.front())) s.remove_prefix(1);
    return s.substr(0, trimmed_end(s));
}

bool lower_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
        if (x != y) return false;
    }
    return true;
}

// For each octet of `s`: true if it is structure at the top level, outside
// quoted strings, comments and domain literals (and, with `angles`,
// outside <...> as well; the brackets themselves are top level). The
// quote and parenthesis octets themselves are not top level; a backslash
// outside quotes is (Sendmail quotes a phrase holding one), the octet it
// escapes is not.
std::vector<bool> top_level(std::string_view s, bool angles) {
    std::vector<bool> top(s.size(), false);
    bool quote = false, literal = false;
    int comment = 0, angle = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '\\') {
            top[i] = !quote && !comment && !literal && !(angles && angle);
            ++i;  // the escaped octet is never structure
            continue;
        }
        if (quote) {
            quote = c != '"';
            continue;
        }
        if (comment) {
            comment += c == '(' ? 1 : c == ')' ? -1 : 0;
            continue;
        }
        if (literal) {
            literal = c != ']';
            continue;
        }
        if (c == '"') {
            quote = true;
            continue;
        }
        if (c == '(') {
            comment = 1;
            continue;
        }
        if (angles && angle) {
            if (c == '<') ++angle;
            if (c == '>') --angle;
            top[i] = angle == 0;
            continue;
        }
        top[i] = true;
        if (c == '[') literal = true;
        if (c == '<') angle = 1;
    }
    return top;
}

// The characters Sendmail quotes a display name for: the specials it always
// adds to MustQuoteChars, and its default "." and "'". ',' splits the list
// and '(' ')' are comments, so they cannot appear here.
bool must_quote(char c) {
    static constexpr std::string_view chars = ".'@;:\\[]";
    return chars.find(c) != std::string_view::npos;
}

// `phrase` (a display name or group name, no leading whitespace) in a form
// Sendmail leaves alone: as it is when nothing in it needs quoting, else
// one quoted string of its text (quoted parts unwrapped, escapes kept),
// followed by the whitespace that ended it.
std::string quote_phrase(std::string_view phrase) {
    const size_t end = trimmed_end(phrase);
    const std::string_view text = phrase.substr(0, end), tail = phrase.substr(end);
    const std::vector<bool> top = top_level(text, false);
    bool needed = false;
    for (size_t i = 0; i < text.size() && !needed; ++i) needed = top[i] && must_quote(text[i]);
    if (!needed) return std::string(phrase);
    std::string out = "\"";
    bool quote = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\\' && i + 1 < text.size()) {
            out += c;
            out += text[++i];
        } else if (c == '"') {
            quote = !quote;  // the quotes of a quoted part are dropped
        } else {
            out += c;
        }
    }
    if (quote) return std::string(phrase);  // unbalanced: leave it to Sendmail
    out += '"';
    out += tail;
    return out;
}

// The address of one list element with comments, a group's ';' and
// surrounding whitespace taken away.
std::string bare_address(std::string_view s) {
    std::string out;
    int comment = 0;
    bool quote = false;
    for (size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '\\' && i + 1 < s.size()) {
            if (!comment) {
                out += c;
                out += s[i + 1];
            }
            ++i;
            continue;
        }
        if (quote) {
            quote = c != '"';
            out += c;
            continue;
        }
        if (comment) {
            comment += c == '(' ? 1 : c == ')' ? -1 : 0;
            continue;
        }
        if (c == '(') {
            comment = 1;
            continue;
        }
        if (c == '"') quote = true;
        out += c;
    }
    std::string_view v = trim(out);
    if (!v.empty() && v.back() == ';') v = trim(v.substr(0, v.size() - 1));
    return std::string(v);
}

bool has_domain(std::string_view address) {
    const std::vector<bool> top = top_level(address, false);
    for (size_t i = 0; i < address.size(); ++i)
        if (top[i] && address[i] == '@') return i + 1 < address.size();
    return false;
}

// One element of the list, trimmed: [group ':'] [phrase] ['<' addr '>' ...].
std::string element_form(std::string_view e, std::string& unqualified) {
    const std::vector<bool> top = top_level(e, true);
    size_t lt = std::string_view::npos, colon = std::string_view::npos, at = std::string_view::npos;
    for (size_t i = 0; i < e.size(); ++i) {
        if (!top[i]) continue;
        if (e[i] == '<' && lt == std::string_view::npos) lt = i;
        if (e[i] == '@' && at == std::string_view::npos && lt == std::string_view::npos) at = i;
        if (e[i] == ':' && colon == std::string_view::npos && lt == std::string_view::npos &&
            at == std::string_view::npos)
            colon = i;
    }
    std::string out;
    size_t start = 0;
    if (colon != std::string_view::npos) {  // a group: "name: member, ...;"
        out += quote_phrase(e.substr(0, colon));
        out += ':';
        start = colon + 1;
        while (start < e.size() && wsp(e[start])) out += e[start++];
    }
    std::string address;
    if (lt != std::string_view::npos) {
        out += quote_phrase(e.substr(start, lt - start));
        out += e.substr(lt);
        const size_t gt = e.find('>', lt);  // the first one: quoted '>' in an address is not seen
        std::string_view inner = e.substr(lt + 1, gt == std::string_view::npos ? std::string_view::npos
                                                                               : gt - lt - 1);
        if (!inner.empty() && inner.front() == '@') {  // a source route: @a,@b:user@host
            const size_t c = inner.find(':');
            inner = c == std::string_view::npos ? std::string_view() : inner.substr(c + 1);
        }
        address = bare_address(inner);
    } else {
        out += e.substr(start);
        address = bare_address(e.substr(start));
    }
    if (!address.empty() && !has_domain(address) && unqualified.empty()) unqualified = address;
    return out;
}

}  // namespace

bool is_sendmail_version(std::string_view v) {
    return !v.empty() && v.front() >= '0' && v.front() <= '9';
}

bool sendmail_address_header(std::string_view name) {
    static constexpr std::array<std::string_view, 13> names = {
        "from",      "sender",    "reply-to",  "to",
        "cc",        "resent-from", "resent-sender", "resent-reply-to",
        "resent-to", "resent-cc", "errors-to", "disposition-notification-to",
        "apparently-to"};
    for (auto n : names)
        if (lower_equal(name, n)) return true;
    return false;
}

SendmailAddressForm sendmail_address_form(std::string_view value) {
    SendmailAddressForm r;
    const std::string_view v = trim_text(value);
    const std::vector<bool> top = top_level(v, true);
    size_t from = 0;
    for (size_t i = 0; i <= v.size(); ++i) {
        if (i < v.size() && !(top[i] && v[i] == ',')) continue;
        const std::string_view e = trim_text(v.substr(from, i - from));
        from = i + 1;
        if (e.empty()) continue;  // Sendmail drops empty elements
        if (!r.value.empty()) r.value += ", ";
        r.value += element_form(e, r.unqualified);
    }
    return r;
}

}  // namespace outpost::milter
