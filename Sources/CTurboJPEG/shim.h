#ifndef KENNEL_TURBOJPEG_SHIM_H
#define KENNEL_TURBOJPEG_SHIM_H
// libjpeg-turbo's TurboJPEG API (2.1): returns error codes, no longjmp, so Swift calls it directly.
#include <turbojpeg.h>
#endif
