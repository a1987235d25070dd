/* Logging: one line per call, written with a single write(2) so that lines
 * from different threads never interleave. Request and security lines go to
 * stdout (PM2 collects them); warnings and errors to stderr. Never pass a
 * password, a token or a hash to these functions. */
#ifndef MAILNEST_LOG_H
#define MAILNEST_LOG_H

#define LOG_FMT(a, b) __attribute__((format(printf, a, b)))

void log_info(const char *fmt, ...) LOG_FMT(1, 2);
/* log_warn appends strerror(errno); log_warnx does not. */
void log_warn(const char *fmt, ...) LOG_FMT(1, 2);
void log_warnx(const char *fmt, ...) LOG_FMT(1, 2);

#endif
