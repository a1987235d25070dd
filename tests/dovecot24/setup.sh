#!/usr/bin/env bash
# What install.sh's earlier steps leave behind for 50-dovecot.sh, made by
# hand in tests/dovecot24's Debian 13 root: the users Dovecot's sockets name
# (postfix, accountd), the TLS key, the database users' secrets, the mailnest
# database (accountd migrate) and its domain, and accountd's settings in
# /etc/mailnest/accountd.env (which the tests read).

set -Eeuo pipefail
shopt -s inherit_errexit

readonly ETC=/etc/mailnest

install -d -m 0700 -- "${ETC}/secrets"
install -d -m 0755 -- "${ETC}/tls" /var/spool/postfix/private
useradd --system --user-group --home-dir /var/spool/postfix --shell /usr/sbin/nologin postfix
useradd --system --user-group --home-dir /var/lib/accountd --shell /usr/sbin/nologin accountd
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mail.example.test \
	-keyout "${ETC}/tls/mailnest.key" -out "${ETC}/tls/mailnest.crt" 2>/dev/null
chgrp dovecot -- "${ETC}/tls/mailnest.key"
chmod 0640 -- "${ETC}/tls/mailnest.key"
for user in accountd dovecot; do
	(umask 077 && openssl rand -hex 20 >"${ETC}/secrets/db-${user}.pw")
done
mariadb -e "CREATE DATABASE mailnest CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
	CREATE USER 'accountd'@'localhost' IDENTIFIED BY '$(<"${ETC}/secrets/db-accountd.pw")';
	CREATE USER 'dovecot'@'localhost' IDENTIFIED BY '$(<"${ETC}/secrets/db-dovecot.pw")';
	GRANT ALL ON mailnest.* TO 'accountd'@'localhost';"
cat >"${ETC}/accountd.env" <<EOT
ACCOUNTD_DB_SOCKET=/run/mysqld/mysqld.sock
ACCOUNTD_DB_NAME=mailnest
ACCOUNTD_DB_USER=accountd
ACCOUNTD_DB_PASSWORD=$(<"${ETC}/secrets/db-accountd.pw")
ACCOUNTD_PRIMARY_DOMAIN=example.test
ACCOUNTD_MIGRATIONS_DIR=/src/accountd/migrations
ACCOUNTD_DOVECOT_AUTH_SOCKET=/run/dovecot/auth-master
EOT
chown root:accountd -- "${ETC}/accountd.env"
chmod 0640 -- "${ETC}/accountd.env"
set -a
# shellcheck source=/dev/null
source "${ETC}/accountd.env"
set +a
accountd migrate >/dev/null
accountd domain add example.test >/dev/null
