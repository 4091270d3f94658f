#ifndef MINSKY_BUILD_INFO_H
#define MINSKY_BUILD_INFO_H

/// The commit this binary was built from: scripts/release passes -DMINSKY_COMMIT="…";
/// a plain `swift build` says "unknown".
const char *minsky_build_commit(void);

#endif
