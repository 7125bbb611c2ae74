// noop_milter.cpp - the benchmark's ceiling: a libmilter milter that does
// nothing but what any milter in outpost's place must do.
//
//   outpost-bench-noop-milter SOCKET [--insert N] [--add N]... [--chgfrom ADDR]
//
// It negotiates what outpost-milter negotiates (the same actions, skipped
// steps, no-reply flags and macro lists), answers every step as outpost
// does (no reply where the MTA allows it, DATA answered), and at the end of
// each message makes the same edits outpost makes: --insert N inserts one
// header of N octets at the top (outpost's DKIM-Signature), each --add N
// appends one of N octets (List-Unsubscribe, List-Unsubscribe-Post), and
// --chgfrom changes the envelope sender (outpost's VERP return path).
// bench/milter_bench.py reads the sizes off a message outpost signed, so
// both make the MTA carry the same number of octets.
//
// SOCKET: libmilter's form (unix:/path, inet:PORT@127.0.0.1).
#include <libmilter/mfapi.h>

#include "milter/callbacks.h"
#include "milter/libmilter_hooks.h"
#include "milter/listen.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::vector<std::string> g_add;
std::string g_insert, g_chgfrom;

using outpost::milter::kNoReplySteps;
using outpost::milter::kSkipSteps;
using outpost::milter::kWantedActions;
constexpr unsigned long kSteps = kSkipSteps | kNoReplySteps;
constexpr unsigned long kActions = kWantedActions;

// A header value of `n` octets in all ("Name: " + value), folded as outpost
// folds: lines of at most 76 columns, LF + TAB between them.
std::string value_of(const char* name, size_t n) {
    const size_t used = std::strlen(name) + 2;
    std::string v;
    size_t col = used;
    while (used + v.size() < n) {
        if (col >= 76) {
            v += "\n\t";
            col = 8;
        } else {
            v += 'x';
            ++col;
        }
    }
    return v;
}

sfsistat negotiate(SMFICTX* ctx, unsigned long f0, unsigned long f1, unsigned long, unsigned long,
                   unsigned long* pf0, unsigned long* pf1, unsigned long* pf2, unsigned long* pf3) {
    *pf0 = f0 & kActions;
    *pf1 = f1 & (kSteps | SMFIP_HDR_LEADSPC);
    *pf2 = *pf3 = 0;
    smfi_setpriv(ctx, reinterpret_cast<void*>(*pf1));
    if (f0 & SMFIF_SETSYMLIST) outpost::milter::request_macros(ctx);
    return SMFIS_CONTINUE;
}

sfsistat quiet(SMFICTX* ctx, unsigned long step) {
    const auto p = reinterpret_cast<unsigned long>(smfi_getpriv(ctx));
    return (p & step) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

sfsistat on_connect(SMFICTX* ctx, char*, _SOCK_ADDR*) { return quiet(ctx, SMFIP_NR_CONN); }
sfsistat on_envfrom(SMFICTX* ctx, char**) { return quiet(ctx, SMFIP_NR_MAIL); }
sfsistat on_envrcpt(SMFICTX* ctx, char**) { return quiet(ctx, SMFIP_NR_RCPT); }
sfsistat on_header(SMFICTX* ctx, char*, char*) { return quiet(ctx, SMFIP_NR_HDR); }
sfsistat on_eoh(SMFICTX*) { return SMFIS_CONTINUE; }
sfsistat on_body(SMFICTX* ctx, unsigned char*, size_t) { return quiet(ctx, SMFIP_NR_BODY); }
sfsistat on_data(SMFICTX*) { return SMFIS_CONTINUE; }

sfsistat on_eom(SMFICTX* ctx) {
    if (!g_insert.empty() &&
        smfi_insheader(ctx, 0, const_cast<char*>("X-Bench-Signature"), g_insert.data()) != MI_SUCCESS)
        return SMFIS_TEMPFAIL;
    for (auto& v : g_add)
        if (smfi_addheader(ctx, const_cast<char*>("X-Bench-Added"), v.data()) != MI_SUCCESS) return SMFIS_TEMPFAIL;
    if (!g_chgfrom.empty() && smfi_chgfrom(ctx, g_chgfrom.data(), nullptr) != MI_SUCCESS) return SMFIS_TEMPFAIL;
    return SMFIS_CONTINUE;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: outpost-bench-noop-milter SOCKET [--insert N] [--add N]... [--chgfrom ADDR]\n");
        return 2;
    }
    for (int i = 2; i + 1 < argc; i += 2) {
        const std::string opt = argv[i];
        if (opt == "--insert")
            g_insert = value_of("X-Bench-Signature", std::strtoul(argv[i + 1], nullptr, 10));
        else if (opt == "--add")
            g_add.push_back(value_of("X-Bench-Added", std::strtoul(argv[i + 1], nullptr, 10)));
        else if (opt == "--chgfrom")
            g_chgfrom = argv[i + 1];
        else {
            std::fprintf(stderr, "outpost-bench-noop-milter: unknown option %s\n", opt.c_str());
            return 2;
        }
    }
    smfiDesc desc{};
    desc.xxfi_name = const_cast<char*>("outpost-bench-noop");
    desc.xxfi_version = SMFI_VERSION;
    desc.xxfi_flags = kActions;
    desc.xxfi_connect = on_connect;
    desc.xxfi_envfrom = on_envfrom;
    desc.xxfi_envrcpt = on_envrcpt;
    desc.xxfi_header = on_header;
    desc.xxfi_eoh = on_eoh;
    desc.xxfi_body = on_body;
    desc.xxfi_eom = on_eom;
    desc.xxfi_data = on_data;
    desc.xxfi_negotiate = negotiate;
    if (smfi_setconn(argv[1]) != MI_SUCCESS || smfi_register(desc) != MI_SUCCESS) {
        std::fprintf(stderr, "outpost-bench-noop-milter: cannot use %s\n", argv[1]);
        return 1;
    }
    smfi_setbacklog(128);
    // A unix socket any local MTA user can connect to (a benchmark's).
    ::umask(0);
    if (smfi_opensocket(1) != MI_SUCCESS) {
        std::fprintf(stderr, "outpost-bench-noop-milter: cannot listen on %s\n", argv[1]);
        return 1;
    }
    // Over TCP, answer without waiting for Nagle (outpost does the same).
    outpost::milter::set_nodelay_on_listeners();
    std::printf("listening on %s\n", argv[1]);
    std::fflush(stdout);
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
