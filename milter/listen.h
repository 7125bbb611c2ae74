// listen.h - the milter socket: parsing milter.listen, preparing a unix
// socket for the MTA. (What libmilter does not let outpost do with its
// socket, TCP_NODELAY and waking its listener, is in milter/libmilter_hooks.h.)
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

}  // namespace outpost::milter
