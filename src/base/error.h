// The project's one error type lives in the public API (ipadapter/error.h); this header keeps
// the internal include path.
#pragma once
#include "ipadapter/error.h"
