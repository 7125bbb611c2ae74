// listen.h - the milter socket: parsing milter.listen, preparing a unix
// socket for the MTA, and TCP_NODELAY for a TCP socket.
//
// libmilter owns the listening socket and does not expose its descriptor.
// Over TCP, Nagle's algorithm meets the MTA's delayed ACK on every small
// milter reply (OpenDKIM measured ~90 ms per message here). Linux copies
// TCP_NODELAY from a listening socket to the sockets accept() returns, so
// after smfi_opensocket() outpost finds libmilter's listening TCP socket
// among its own descriptors (SO_ACCEPTCONN) and sets TCP_NODELAY on it;
// every connection libmilter accepts then has it. tests/unit/test_listen
// checks the inheritance on the machine it runs on.
#pragma once

#include <sys/types.h>

#include <string>

namespace outpost::milter {

struct ListenSpec {
    enum class Kind { unix_socket, inet, inet6 } kind = Kind::unix_socket;
    std::string path;       // unix
    int port = 0;           // inet, inet6
    std::string address;    // inet, inet6 ("" = any)
    std::string libmilter;  // the spelling smfi_setconn takes
};

// unix:PATH, local:PATH, inet:PORT[@ADDR], inet6:PORT[@ADDR]. Throws
// Error(config) naming milter.listen.
ListenSpec parse_listen(const std::string& text);

// "0660" -> 0660; throws Error(config) naming milter.socket_mode.
mode_t parse_socket_mode(const std::string& text);

// Refuses a unix socket path where a milter is still answering
// (SOCKET_IN_USE); creates the socket's parent directory if missing (mode
// 0755, so the MTA's user can reach the socket; the socket's own mode
// guards it).
void prepare_socket_dir(const ListenSpec& spec);

// After smfi_opensocket: chmod the unix socket, give it to `owner` ("" =
// leave; the milter's own user, so it can still reach its socket after
// dropping privileges) and to `group` ("" = leave). Throws Error.
void secure_socket(const ListenSpec& spec, mode_t mode, const std::string& owner, const std::string& group);

// Sets TCP_NODELAY on every listening TCP socket of this process; returns
// how many it set.
int set_nodelay_on_listeners();

// Connects to the socket once and hangs up. libmilter's listener notices a
// stop only when its poll() wakes up (every few seconds); a connection wakes
// it at once, so a drained milter exits without that wait.
void wake_listener(const ListenSpec& spec);

}  // namespace outpost::milter
