// runtime.h - building a configuration generation (milter/context.h,
// Runtime) and checking it.
#pragma once

#include <memory>
#include <ostream>

#include "milter/context.h"

namespace outpost::milter {

// Opens what `cfg` names: the store (read-only main environment; counters
// writable), the key directory, the tracking secrets. Parts of `previous`
// that did not change are shared (the LMDB environments are opened once per
// process; the key cache keeps its keys). Throws outpost::Error.
std::shared_ptr<const Runtime> make_runtime(const std::shared_ptr<const Config>& cfg,
                                            const Runtime* previous);

// --check-config: reads every signing key of every domain (and checks it
// against the store). Prints one line per problem; returns true if none.
bool check_runtime(const Runtime& rt, std::ostream& out);

// Lets go of the keys of selectors that can no longer sign: retired,
// replaced, or gone with their domain. Returns how many were let go.
size_t prune_keys(const Runtime& rt);

}  // namespace outpost::milter
