// What libringtrain exports. The library is built with hidden visibility, so that only what the
// public headers declare with RINGTRAIN_API is part of its interface: everything else (the
// commands, the backends, the kernels) stays inside and may change without breaking programs
// built against an installed ringtrain.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define RINGTRAIN_API __attribute__((visibility("default")))
#else
#define RINGTRAIN_API
#endif
