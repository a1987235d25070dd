<?php
/**
 * mailnest's password driver for Roundcube's password plugin.
 *
 * The password is changed by accountd, which owns the accounts: it checks
 * the new password with the same rules as the sign-up page, re-hashes it and
 * revokes the mailbox's other sessions (and Dovecot's cached logins). The
 * driver logs in to accountd's API with the current password, changes the
 * password with that session, then logs the session out again. It passes
 * the browser's address in X-Forwarded-For (accountd believes it from
 * loopback only), so accountd's per-client limits count the user, not
 * Roundcube. Setting: $config['password_mailnest_url'] (accountd's base URL).
 */
class rcube_mailnest_password
{
    public function save($curpass, $newpass, $username)
    {
        $rcmail = rcmail::get_instance();
        $base = rtrim((string) $rcmail->config->get('password_mailnest_url'), '/');
        $client = password::get_http_client();
        $headers = ['X-Forwarded-For' => rcube_utils::remote_ip()];
        $options = ['headers' => $headers, 'http_errors' => false, 'timeout' => 30];

        try {
            $login = $client->request('POST', "$base/api/v1/sessions",
                $options + ['json' => ['email' => $username, 'password' => $curpass]]);
            if ($login->getStatusCode() != 201) {
                return $this->refusal($login);
            }
            $token = json_decode((string) $login->getBody(), true)['token'] ?? '';
            $options['headers']['Authorization'] = "Bearer $token";
            try {
                $change = $client->request('PUT', "$base/api/v1/me/password",
                    $options + ['json' => ['current_password' => $curpass, 'new_password' => $newpass]]);
            } finally {
                $client->request('DELETE', "$base/api/v1/sessions/current", $options);
            }
        } catch (Exception $e) {
            rcube::raise_error(['code' => 600, 'file' => __FILE__, 'line' => __LINE__,
                'message' => 'Password plugin: accountd: ' . $e->getMessage()], true, false);
            return PASSWORD_CONNECT_ERROR;
        }
        return $change->getStatusCode() == 204 ? PASSWORD_SUCCESS : $this->refusal($change);
    }

    // refusal: accountd's answer as the plugin's result, with accountd's
    // own words for the user when it refused the new password.
    private function refusal($response)
    {
        $status = $response->getStatusCode();
        $body = json_decode((string) $response->getBody(), true);
        $message = is_array($body) ? trim((string) ($body['message'] ?? ''), ". ") : '';
        $message = $message === '' ? '' : ucfirst($message) . '.';

        if ($status == 422 || $status == 401 || $status == 429) {
            return ['code' => PASSWORD_CONSTRAINT_VIOLATION, 'message' => $message];
        }
        rcube::raise_error(['code' => 600, 'file' => __FILE__, 'line' => __LINE__,
            'message' => "Password plugin: accountd answered $status"], true, false);
        return $status >= 500 ? PASSWORD_CONNECT_ERROR : PASSWORD_ERROR;
    }
}
