<?php
/**
 * mailnest_client_ip: tell Dovecot who is really logging in through the
 * webmail. Installed by install/71-roundcube.sh into Roundcube's plugins
 * directory and enabled in its config.inc.php.
 *
 * Roundcube opens its IMAP connections from 127.0.0.1, so without this
 * Dovecot would see every webmail login as coming from loopback: fail2ban
 * never bans loopback, and Dovecot's failure penalty (kept per remote
 * address) would slow every webmail user down when one of them guesses.
 * Before LOGIN, Roundcube sends the `preauth_ident` connection option as an
 * IMAP ID command (RFC 2971; rcube_imap_generic::login(), Roundcube 1.6 and
 * 1.7); this plugin adds the browser's address and port to it as
 * x-originating-ip / x-originating-port. Dovecot believes those only from
 * its login_trusted_networks (loopback, install/templates/dovecot.conf), and
 * then logs, penalises and counts the login as coming from that address.
 *
 * REMOTE_ADDR is the peer of Nginx's TLS connection (Nginx terminates TLS
 * itself and passes its $remote_addr), so no header of the client's choosing
 * is believed here.
 */
class mailnest_client_ip extends rcube_plugin
{
    public function init()
    {
        $this->add_hook('storage_connect', [$this, 'storage_connect']);
    }

    /**
     * storage_connect hook: called with the IMAP connection options before
     * each connection; returns them with the client's address in the ID
     * sent before authentication. Outside a web request (bin/ scripts) there
     * is no client and nothing is added.
     */
    public function storage_connect($args)
    {
        $ip = $_SERVER['REMOTE_ADDR'] ?? '';
        if (filter_var($ip, FILTER_VALIDATE_IP) === false) {
            return $args;
        }
        $ident = is_array($args['preauth_ident'] ?? null) ? $args['preauth_ident'] : [];
        $ident['x-originating-ip'] = $ip;
        $port = $_SERVER['REMOTE_PORT'] ?? '';
        if (ctype_digit((string) $port)) {
            $ident['x-originating-port'] = (string) $port;
        }
        $args['preauth_ident'] = $ident;
        return $args;
    }
}
