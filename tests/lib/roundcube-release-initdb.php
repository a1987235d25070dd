#!/usr/bin/env php
<?php
// Stand-in for bin/initdb.sh of Roundcube releases, in the test release that
// tests/lib/roundcube-release lays out in 1.7's form from Debian's files
// (Debian's package has no initdb.sh). Same interface:
//   initdb.sh --dir=SQL [--update]
// makes the schema in an empty database from SQL/<driver>.initial.sql; with
// --update, a database that has it already is upgraded instead (SQL/<driver>/).
// Both through Roundcube's own rcmail_utils.
define('INSTALL_PATH', dirname(__DIR__) . '/');
require_once INSTALL_PATH . 'program/include/clisetup.php';

$opts = rcube_utils::get_opt(['d' => 'dir', 'u' => 'update']);
if (empty($opts['dir']) || !is_dir($opts['dir'])) {
    rcube::raise_error('initdb.sh: --dir=SQL names no directory', false, true);
}
$db = rcmail_utils::db();
$made = in_array($db->table_name('system'), (array) $db->list_tables());
if (!empty($opts['update']) && $made) {
    echo "Checking for database schema updates...\n";
    rcmail_utils::db_update($opts['dir'], 'roundcube', null, ['errors' => true]);
} else {
    rcmail_utils::db_init($opts['dir']);
}
