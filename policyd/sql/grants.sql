-- The rights of policyd's database user, and no more: it reads the sending
-- account (not its password hash) and the overrides, sets only the
-- suspension column, and keeps the counters; for the milter's From: check
-- it reads which domains are active and the aliases (what Postfix's
-- sender-login-maps.cf reads). Applied by install/66-policyd.sh
-- and by the integration tests, after accountd's migrations.
GRANT SELECT (id, domain_id, email, active, created_at, send_suspended_at) ON mailnest.mailboxes TO 'policyd'@'localhost';
GRANT UPDATE (send_suspended_at) ON mailnest.mailboxes TO 'policyd'@'localhost';
GRANT SELECT (id, name, active) ON mailnest.domains TO 'policyd'@'localhost';
GRANT SELECT (domain_id, source, destination, active) ON mailnest.aliases TO 'policyd'@'localhost';
GRANT SELECT ON mailnest.send_limits_mailbox TO 'policyd'@'localhost';
GRANT SELECT ON mailnest.send_limits_domain TO 'policyd'@'localhost';
GRANT SELECT, INSERT, UPDATE, DELETE ON mailnest.send_usage TO 'policyd'@'localhost';
