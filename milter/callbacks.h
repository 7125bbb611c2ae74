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
