#include "build_info.h"

#ifndef MINSKY_COMMIT
#define MINSKY_COMMIT "unknown"
#endif

const char *minsky_build_commit(void) { return MINSKY_COMMIT; }
