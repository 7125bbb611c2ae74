// trackd_server.h - outpost-trackd's HTTP/1.1 server (Boost.Beast over one
// Asio io_context) in front of trackd::Handler.
//
//   - plain HTTP on tracking.listen ("ADDR:PORT", "[IPv6]:PORT"); TLS is the
//     proxy's job;
//   - request line and headers at most kHeaderLimit bytes (else 431), a body
//     at most kBodyLimit (else 413), other malformed requests 400; each of
//     these closes the connection after the answer;
//   - tracking.timeout to read a whole request, and as the keep-alive idle
//     time; a client that is too slow is disconnected (logged, unless it
//     was an idle keep-alive connection);
//   - at most tracking.max_connections connections: at the limit the
//     server stops accepting until one ends, so new clients wait in the
//     kernel's listen queue (a warning every 10 s at most); a client
//     holds its place no longer than tracking.timeout between requests;
//   - counters synced once a second (the counters environment is
//     MDB_NOSYNC);
//   - SIGHUP calls the reload function; SIGTERM and SIGINT stop accepting,
//     close idle connections, let responses being written finish (at most
//     kDrainGrace) and return from run().
// Every request gets one log line (trackd::log_line); no error in a
// connection stops the server.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "control/lib/trackd_handler.h"
#include "store/store.h"

namespace outpost::trackd {

inline constexpr size_t kHeaderLimit = size_t{8} * 1024;
inline constexpr size_t kBodyLimit = size_t{4} * 1024;
inline constexpr std::chrono::milliseconds kDrainGrace{2000};

struct ListenAddress {
    std::string address;  // numeric IPv4 or IPv6, without brackets
    uint16_t port = 0;
};

// Parses tracking.listen. Throws Error(config) naming the key.
ListenAddress parse_listen(const std::string& text);

class Server {
public:
    // Binds and listens (so it can run before privileges are dropped).
    // Throws Error(environment, SOCKET_ERROR) if the address cannot be used.
    explicit Server(const std::string& listen);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Serves until SIGTERM/SIGINT or stop(), with `threads` I/O threads (the
    // caller's among them). `reload` runs on an I/O thread on SIGHUP.
    void run(Handler& handler, Store& store, unsigned threads, std::function<void()> reload);
    // Begins the stop described above; safe from any thread.
    void stop();
    // "127.0.0.1:8080" - the bound address (port 0 resolved).
    std::string local_address() const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace outpost::trackd
