#ifndef KFTRAY_CZLIB_SHIM_H
#define KFTRAY_CZLIB_SHIM_H

#include <zlib.h>

// deflateInit2 / inflateInit are macros in zlib.h, so Swift cannot import them.
// These wrappers call the real entry points with the version and struct size
// the macros would pass, so zlib can check the header/library ABI match.

static inline int czlib_deflateInit2(z_streamp strm, int level, int method,
                                     int windowBits, int memLevel, int strategy) {
  return deflateInit2_(strm, level, method, windowBits, memLevel, strategy,
                       ZLIB_VERSION, (int)sizeof(z_stream));
}

static inline int czlib_inflateInit(z_streamp strm) {
  return inflateInit_(strm, ZLIB_VERSION, (int)sizeof(z_stream));
}

#endif
