// ctl_tracking.cpp - `outpostctl tracking ...` (tracking secrets).
#include "control/ctl.h"

namespace outpost::ctl {

void register_tracking_commands(CLI::App&, Context&) {}

}  // namespace outpost::ctl
