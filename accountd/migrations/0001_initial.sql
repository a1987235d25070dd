-- The initial schema. Every table Postfix and Dovecot read is looked up by the
-- full address, so `email` / `source` carry unique or plain indexes.
-- Addresses are stored lower-case in ASCII with a case-insensitive collation,
-- so a lookup for Alice@Example.org finds alice@example.org.

CREATE TABLE IF NOT EXISTS domains (
	id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
	name VARCHAR(253) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
	active TINYINT(1) NOT NULL DEFAULT 1,
	created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
	UNIQUE KEY domains_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS mailboxes (
	id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
	domain_id INT UNSIGNED NOT NULL,
	local_part VARCHAR(64) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
	email VARCHAR(320) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
	password_hash VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	quota_bytes BIGINT UNSIGNED NOT NULL DEFAULT 0,
	active TINYINT(1) NOT NULL DEFAULT 1,
	created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
	deactivated_at DATETIME(3) NULL,
	UNIQUE KEY mailboxes_email (email),
	KEY mailboxes_domain (domain_id, email),
	CONSTRAINT mailboxes_domain_fk FOREIGN KEY (domain_id) REFERENCES domains (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- One row per (source, destination): Postfix's mysql table joins several
-- rows into one comma-separated result itself.
CREATE TABLE IF NOT EXISTS aliases (
	id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
	domain_id INT UNSIGNED NOT NULL,
	source VARCHAR(320) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
	destination VARCHAR(320) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
	active TINYINT(1) NOT NULL DEFAULT 1,
	created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	UNIQUE KEY aliases_pair (source, destination),
	KEY aliases_destination (destination),
	CONSTRAINT aliases_domain_fk FOREIGN KEY (domain_id) REFERENCES domains (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Only the SHA-256 of a session token is stored: a stolen dump of this
-- table logs nobody in.
CREATE TABLE IF NOT EXISTS sessions (
	id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
	token_hash BINARY(32) NOT NULL,
	mailbox_id INT UNSIGNED NOT NULL,
	created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	expires_at DATETIME(3) NOT NULL,
	UNIQUE KEY sessions_token (token_hash),
	KEY sessions_mailbox (mailbox_id),
	KEY sessions_expiry (expires_at),
	CONSTRAINT sessions_mailbox_fk FOREIGN KEY (mailbox_id) REFERENCES mailboxes (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Single-use invite codes, stored as SHA-256 like session tokens.
CREATE TABLE IF NOT EXISTS invites (
	id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
	code_hash BINARY(32) NOT NULL,
	note VARCHAR(255) NOT NULL DEFAULT '',
	created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	expires_at DATETIME(3) NULL,
	used_at DATETIME(3) NULL,
	used_by INT UNSIGNED NULL,
	revoked_at DATETIME(3) NULL,
	UNIQUE KEY invites_code (code_hash),
	CONSTRAINT invites_mailbox_fk FOREIGN KEY (used_by) REFERENCES mailboxes (id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Run-time settings an admin changes through the API (registration mode).
CREATE TABLE IF NOT EXISTS settings (
	name VARCHAR(64) CHARACTER SET ascii NOT NULL PRIMARY KEY,
	value VARCHAR(255) NOT NULL,
	updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Purged mailboxes whose Maildir still has to be removed. accountd cannot
-- touch /var/vmail (it runs unprivileged); a root job of the installer
-- removes the directory and then this row.
CREATE TABLE IF NOT EXISTS maildir_purge_queue (
	id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
	email VARCHAR(320) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
	requested_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
