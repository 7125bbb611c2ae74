// callbacks.h - the libmilter side: thin extern "C" shims over the pipeline.
//
// Each shim catches every exception: a failure becomes a log line and
// 451 4.3.0 (SMFIS_TEMPFAIL), never an exception in libmilter. In protocol
// steps negotiated without a reply (SMFIP_NR_*), a failure is kept in the
// transaction and reported at end of headers.
#pragma once

#include <libmilter/mfapi.h>

#include <memory>

#include "milter/context.h"

namespace outpost::milter {

// The configuration generation new connections get (SIGHUP replaces it).
void set_runtime(std::shared_ptr<const Runtime> rt);
std::shared_ptr<const Runtime> current_runtime();

// Messages between MAIL FROM and end of message/abort, over all connections.
int messages_in_progress();

// Draining (SIGTERM): messages in progress finish; new connections are
// refused at negotiation and new messages on open connections get
// 421-class temporary failures, so the MTA keeps them and retries.
void set_draining(bool on);
bool draining();

// Protocol steps outpost does not need, and steps it never answers (each
// saved reply is a round trip per header or body chunk).
//
// DATA is neither skipped nor left unanswered, although outpost has nothing
// to say there: Postfix sends the DATA macros anyway, and if no reply
// follows them, that small packet sits unacknowledged while cleanup writes
// the first header; Nagle's algorithm in Postfix then holds the header until
// our delayed ACK (40 ms on Linux). Measured over inet:, one session: 48 ms
// per message with DATA skipped, 4.4 ms with DATA answered (unix: ~5 ms).
// The other no-reply steps are followed closely enough by a step we answer
// that they showed no such stall (5 recipients, 100 KB bodies).
inline constexpr unsigned long kSkipSteps = SMFIP_NOHELO | SMFIP_NOUNKNOWN;
inline constexpr unsigned long kNoReplySteps = SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT |
                                        SMFIP_NR_UNKN | SMFIP_NR_HDR | SMFIP_NR_BODY;
inline constexpr unsigned long kRequiredActions = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_DELRCPT | SMFIF_ADDRCPT;
// SMFIF_CHGBODY: the track stage replaces the body; without it mail is
// delivered untracked.
inline constexpr unsigned long kWantedActions =
    kRequiredActions | SMFIF_QUARANTINE | SMFIF_CHGFROM | SMFIF_CHGBODY | SMFIF_SETSYMLIST;

// Asks the MTA (at negotiation, when it offers SMFIF_SETSYMLIST) for only
// the macros outpost reads, each once per transaction.
void request_macros(SMFICTX* ctx);

// The filter description for smfi_register.
smfiDesc& filter_description();

// libmilter-backed MtaActions for one SMFICTX.
class MilterActions : public MtaActions {
public:
    // `actions`: the SMFIF_* actions negotiated with the MTA.
    MilterActions(SMFICTX* ctx, bool leading_space, unsigned long actions)
        : ctx_(ctx), leading_space_(leading_space), actions_(actions) {}
    bool add_header(const std::string& name, const std::string& value) override;
    bool insert_header(int index, const std::string& name, const std::string& value) override;
    bool delete_header(const std::string& name, int index) override;
    bool change_header(const std::string& name, int index, const std::string& value) override;
    bool delete_rcpt(const std::string& rcpt) override;
    bool add_rcpt(const std::string& rcpt) override;
    bool quarantine(const std::string& reason) override;
    bool replace_body(const std::string& body) override;
    bool can_replace_body() const override { return (actions_ & SMFIF_CHGBODY) != 0; }
    bool change_from(const std::string& address) override;
    bool can_change_from() const override { return (actions_ & SMFIF_CHGFROM) != 0; }

private:
    std::string value(const std::string& v) const { return leading_space_ ? " " + v : v; }
    SMFICTX* ctx_;
    bool leading_space_;
    unsigned long actions_;
};

}  // namespace outpost::milter
