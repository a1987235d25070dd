-- Sending limits (issue 7), enforced by mailnest-policyd at SMTP time.
-- accountd writes the overrides and lifts suspensions; policyd reads them,
-- writes the counters and sets send_suspended_at (its database user may
-- change nothing else).

-- Set by policyd when an account keeps hitting its limits: it may still log
-- in and read mail, but not send. NULL = may send. An admin clears it.
ALTER TABLE mailboxes ADD COLUMN IF NOT EXISTS send_suspended_at DATETIME(3) NULL;

-- Per-mailbox limits; a NULL column means the default of policyd (which
-- depends on the account's age). 0 means no limit.
CREATE TABLE IF NOT EXISTS send_limits_mailbox (
	mailbox_id INT UNSIGNED NOT NULL PRIMARY KEY,
	messages_per_hour INT UNSIGNED NULL,
	messages_per_day INT UNSIGNED NULL,
	recipients_per_message INT UNSIGNED NULL,
	recipients_per_day INT UNSIGNED NULL,
	updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
	CONSTRAINT send_limits_mailbox_fk FOREIGN KEY (mailbox_id) REFERENCES mailboxes (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Totals for all the mailboxes of a domain together; NULL = policyd's default.
CREATE TABLE IF NOT EXISTS send_limits_domain (
	domain_id INT UNSIGNED NOT NULL PRIMARY KEY,
	messages_per_hour INT UNSIGNED NULL,
	messages_per_day INT UNSIGNED NULL,
	recipients_per_day INT UNSIGNED NULL,
	updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
	CONSTRAINT send_limits_domain_fk FOREIGN KEY (domain_id) REFERENCES domains (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- What was sent, one row per subject (an address, or a domain name for the
-- domain's totals), period ('h' = clock hour, 'd' = day, UTC) and start of
-- that period. policyd adds to a row with INSERT ... ON DUPLICATE KEY UPDATE
-- inside a transaction, so concurrent sessions and restarts keep it exact.
-- limit_hits (day rows of addresses) counts refusals, which lead to a
-- suspension. Rows older than two days are removed by policyd.
CREATE TABLE IF NOT EXISTS send_usage (
	subject VARCHAR(320) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
	period CHAR(1) CHARACTER SET ascii NOT NULL,
	period_start DATETIME NOT NULL,
	messages INT UNSIGNED NOT NULL DEFAULT 0,
	recipients INT UNSIGNED NOT NULL DEFAULT 0,
	limit_hits INT UNSIGNED NOT NULL DEFAULT 0,
	PRIMARY KEY (subject, period, period_start),
	KEY send_usage_start (period_start)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
