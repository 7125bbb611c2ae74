// ctl_verify.cpp - `outpostctl domain verify` (DNS verification issue).
#include "control/ctl.h"

namespace outpost::ctl {

void register_verify_commands(CLI::App&, Context&) {}

}  // namespace outpost::ctl
