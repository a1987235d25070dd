<?php
// Roundcube settings of mailnest. Written by install/71-roundcube.sh on every
// run (root:roundcube 0640: it holds the database password and des_key);
// change the script or /etc/mailnest/mailnest.conf and re-run ./install.sh.
$config = [];

// Its own database, as its own user over MariaDB's unix socket.
$config['db_dsnw'] = 'mysql://roundcube:${RC_DB_PASSWORD}@unix(/run/mysqld/mysqld.sock)/roundcube';

// IMAP and SMTP of this server, over TLS, with the user's own credentials.
// The certificate is verified against ${RC_CA_FILE} (the server's own
// certificate when it is self-signed, the system's CAs otherwise) for the
// name ${MAILNEST_HOSTNAME}, though the connection goes to loopback.
$mailnest_tls = [
    'ssl' => [
        'verify_peer' => true,
        'verify_peer_name' => true,
        'peer_name' => '${MAILNEST_HOSTNAME}',
        'cafile' => '${RC_CA_FILE}',
    ],
];
$config['imap_host'] = 'ssl://127.0.0.1:993';
$config['imap_conn_options'] = $mailnest_tls;
$config['smtp_host'] = 'tls://127.0.0.1:587';
$config['smtp_conn_options'] = $mailnest_tls;
$config['smtp_user'] = '%u';
$config['smtp_pass'] = '%p';
// A user may log in with the local part alone.
$config['username_domain'] = '${MAILNEST_DOMAIN}';
$config['mail_domain'] = '${MAILNEST_DOMAIN}';
$config['max_message_size'] = '${RC_MAX_MESSAGE_SIZE}';

// Sessions: the IMAP password in the session is encrypted with des_key.
$config['des_key'] = '${RC_DES_KEY}';
$config['cipher_method'] = 'AES-256-CBC';
$config['ip_check'] = true;
$config['session_samesite'] = 'Strict';
// Roundcube's own per-user lock is off: it counts failures for a user from
// any address (so anyone could lock a user out, and learn who uses the
// webmail), and the attempts it refuses never reach Dovecot, so they would
// not count towards a ban. Guessers are banned per address instead (Dovecot
// sees the browser's address through our mailnest_client_ip plugin).
$config['login_rate_limit'] = 0;
$config['x_frame_options'] = 'sameorigin';
$config['request_path'] = '/mail/';

// Files outside the web root, readable by Roundcube's own user only.
$config['log_driver'] = 'file';
$config['log_dir'] = '${RC_LOG_DIR}/';
$config['temp_dir'] = '${RC_TEMP_DIR}/';
$config['enable_installer'] = false;

$config['product_name'] = '${MAILNEST_HOSTNAME} webmail';
$config['support_url'] = 'https://${MAILNEST_HOSTNAME}/account.html';
$config['skin'] = 'elastic';
$config['enable_spellcheck'] = false;
$config['plugins'] = ['mailnest_client_ip', 'password', 'archive', 'zipdownload'];
// No Roundcube version in the pages a stranger sees (plugins/mailnest_no_version).
$config['plugins'][] = 'mailnest_no_version';

// Password changes go to accountd (plugins/password/drivers/mailnest.php),
// which validates the new password and revokes the other sessions.
$config['password_driver'] = 'mailnest';
$config['password_mailnest_url'] = '${RC_ACCOUNTD_URL}';
$config['password_confirm_current'] = true;
$config['password_minimum_length'] = 10;
$config['password_force_save'] = true;
