// trackd_classify.h - is an open or a click a person, or a machine?
//
// Mail privacy proxies fetch every image of a message when it arrives (or
// when it is opened, for everyone behind them), and link scanners follow
// every link before the recipient sees it. Counting those as people makes
// opens and clicks meaningless, so outpost-trackd splits its counts into
// ".human" and ".machine" (store/stats.h). A request is a machine's when
//
//   head     it is a HEAD (people's browsers GET);
//   ua       its User-Agent is empty or names a known proxy, scanner or
//            library (kMachineAgents in trackd_classify.cpp), or is exactly
//            "Mozilla/5.0" with nothing after it (Apple Mail Privacy
//            Protection's fetcher);
//   network  its client address is in a built-in list of networks that
//            mail privacy proxies and security scanners fetch from;
//   fast     it arrives less than kFastSeconds after the token was issued
//            (a scanner at the receiving side; a person has not read the
//            message yet). Issue times ahead of our clock count as fast.
//
// Either way the GIF or the redirect is served: classification only picks
// the counter. It is a heuristic, documented as such in the README.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace outpost::trackd {

inline constexpr int64_t kFastSeconds = 10;

struct ClassifyInput {
    bool head = false;
    std::string_view user_agent;
    std::string_view client;   // client address (see client_address())
    int64_t age_seconds = -1;  // now - token issue time
};

struct Classification {
    bool machine = false;
    const char* why = "";  // "" for a human; else head | ua | network | fast
};

Classification classify(const ClassifyInput& in);

// The User-Agent or network rule alone (for tests and for the log).
bool machine_user_agent(std::string_view user_agent);
bool machine_network(std::string_view ip);

// The client a request speaks for: the socket peer, or, only when the peer
// is a loopback address (the TLS proxy on the same host), the left-most
// X-Forwarded-For entry if it is a valid address. IPv4-mapped IPv6
// addresses come back as IPv4.
std::string client_address(std::string_view peer, std::string_view forwarded_for);

}  // namespace outpost::trackd
