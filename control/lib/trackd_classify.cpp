// trackd_classify.cpp - the user agent and network tables, and the rules.
#include "control/lib/trackd_classify.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

#include "store/cidr.h"
#include "base/text.h"

namespace outpost::trackd {
namespace {

// Substrings (compared without regard to case) of User-Agents that are
// never a person reading mail: image proxies, link scanners and security
// gateways, link-preview fetchers, and HTTP libraries.
constexpr std::array<std::string_view, 33> kMachineAgents = {
    // mail privacy / image proxies
    "googleimageproxy", "via ggpht.com", "yahoomailproxy", "yahoo! slurp",
    // link scanners and security gateways
    "bingpreview", "safelinks", "barracuda", "proofpoint", "mimecast", "symantec", "forcepoint", "trendmicro",
    "cisco-ironport", "headlesschrome",
    // link previews
    "googlebot", "bingbot", "facebookexternalhit", "slackbot", "twitterbot", "discordbot", "linkedinbot",
    "telegrambot", "whatsapp", "skypeuripreview",
    // libraries and tools
    "python-requests", "python-urllib", "curl/", "wget/", "go-http-client", "libwww-perl", "okhttp", "java/",
    "apache-httpclient"};

// Networks that mail privacy proxies and security scanners fetch from,
// taken from the operators' published ranges. Such lists drift: this is a
// starting point, kept small on purpose (a wrong entry turns people into
// machines, which only moves a count).
constexpr std::array<std::string_view, 14> kMachineNetworks = {
    // Google's image proxy (GoogleImageProxy, ggpht.com)
    "66.102.0.0/20", "66.249.80.0/20",
    // Microsoft Exchange Online Protection (Safe Links)
    "40.92.0.0/15", "40.107.0.0/16", "52.100.0.0/14", "104.47.0.0/17",
    // Proofpoint
    "148.163.128.0/19",
    // Mimecast
    "205.139.110.0/24", "207.211.30.0/24", "216.205.24.0/24", "91.220.42.0/24", "195.130.217.0/24",
    // Barracuda
    "64.235.144.0/20", "209.222.80.0/21"};

const std::vector<Cidr>& machine_cidrs() {
    static const std::vector<Cidr> cidrs = [] {
        std::vector<Cidr> out;
        for (auto text : kMachineNetworks)
            if (auto c = Cidr::parse(std::string(text))) out.push_back(*c);
        return out;
    }();
    return cidrs;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// A valid IPv4 or IPv6 address in canonical text, or "".
std::string canonical_ip(std::string_view text) {
    std::string ip(trim(text));
    if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    unsigned char buf[16];
    char out[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET, ip.c_str(), buf) == 1) return inet_ntop(AF_INET, buf, out, sizeof out);
    if (inet_pton(AF_INET6, ip.c_str(), buf) != 1) return "";
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::equal(kMapped, kMapped + 12, buf)) return inet_ntop(AF_INET, buf + 12, out, sizeof out);
    return inet_ntop(AF_INET6, buf, out, sizeof out);
}

bool loopback(const std::string& ip) {
    return ip.rfind("127.", 0) == 0 || ip == "::1";
}

}  // namespace

bool machine_user_agent(std::string_view user_agent) {
    const std::string_view ua = trim(user_agent);
    if (ua.empty()) return true;
    const std::string l = lower(ua);
    if (l == "mozilla/5.0") return true;  // Apple Mail Privacy Protection
    for (auto pattern : kMachineAgents)
        if (l.find(pattern) != std::string::npos) return true;
    return false;
}

bool machine_network(std::string_view ip) {
    const std::string text(ip);
    for (const auto& c : machine_cidrs())
        if (c.contains(text)) return true;
    return false;
}

Classification classify(const ClassifyInput& in) {
    if (in.head) return {true, "head"};
    if (machine_user_agent(in.user_agent)) return {true, "ua"};
    if (!in.client.empty() && machine_network(in.client)) return {true, "network"};
    if (in.age_seconds < kFastSeconds) return {true, "fast"};
    return {false, ""};
}

std::string client_address(std::string_view peer, std::string_view forwarded_for) {
    std::string p = canonical_ip(peer);
    if (p.empty()) p = std::string(peer);
    if (!loopback(p) || forwarded_for.empty()) return p;
    const std::string first = canonical_ip(forwarded_for.substr(0, forwarded_for.find(',')));
    return first.empty() ? p : first;
}

}  // namespace outpost::trackd
