// gmime.h - what every user of GMime shares: one initialisation per process
// and an owning pointer for GObjects.
#pragma once

#include <gmime/gmime.h>

#include <memory>
#include <mutex>

namespace outpost {

// g_mime_init exactly once, whichever thread gets there first (one flag for
// the whole process: the From parser, the track stage and the report readers
// all call it).
inline void gmime_init_once() {
    static std::once_flag once;
    std::call_once(once, [] { g_mime_init(); });
}

struct GObjectUnref {
    void operator()(gpointer p) const {
        if (p) g_object_unref(p);
    }
};
// Owns one reference of a GObject (GMimeStream, GMimeParser, GMimeMessage...).
template <typename T>
using GPtr = std::unique_ptr<T, GObjectUnref>;

}  // namespace outpost
