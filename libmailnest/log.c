/* Log lines with a UTC timestamp; see log.h for the rules. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* The program named on every line: each daemon's meson.build sets it. */
#ifndef LOG_PROGRAM
#error "LOG_PROGRAM must name the program (-DLOG_PROGRAM=\"...\")"
#endif

static void log_line(int fd, int errnum, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
log_line(int fd, int errnum, const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t len;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	len = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(
	    line + len, sizeof(line) - len, ".%03ldZ " LOG_PROGRAM " ", ts.tv_nsec / 1000000);
	len += (size_t)n;
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	if (n < 0)
		return;
	len = (size_t)n >= sizeof(line) - len ? sizeof(line) - 1 : len + (size_t)n;
	if (errnum != 0 && len < sizeof(line) - 1) {
		n = snprintf(line + len, sizeof(line) - len, ": %s", strerror(errnum));
		if (n > 0)
			len = (size_t)n >= sizeof(line) - len ? sizeof(line) - 1 : len + (size_t)n;
	}
	/* Replace control characters so a hostile value cannot forge a line. */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20)
			line[i] = '?';
	if (len >= sizeof(line) - 1)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	/* Nothing useful can be done if the log itself fails. */
	if (write(fd, line, len) < 0)
		return;
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(STDOUT_FILENO, 0, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_line(STDERR_FILENO, saved, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(STDERR_FILENO, 0, fmt, ap);
	va_end(ap);
}
