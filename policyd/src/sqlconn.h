/* accountd's MariaDB connection helpers (../accountd/src/sqlconn.c, compiled
 * here too): bounded waits, UTC, strict mode; what an error means. */
#include "../../accountd/src/sqlconn.h"
