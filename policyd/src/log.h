/* Logging is accountd's (../accountd/src/log.c, compiled here with
 * LOG_PROGRAM="policyd"): one line per call, one write(2), control
 * characters replaced, so a hostile request cannot forge a log line. */
#include "../../accountd/src/log.h"
