#ifndef MINSKY_CLIBPQ_SHIM_H
#define MINSKY_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
