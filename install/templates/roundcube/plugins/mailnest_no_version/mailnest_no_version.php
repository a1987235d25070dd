<?php
// mailnest_no_version, installed by install/71-roundcube.sh.
//
// Roundcube tells every page it renders, the login page included, its own
// version in the client environment ("rcversion":10605 for 1.6.5), which
// tells a stranger which published flaws to try. Neither Roundcube's own
// scripts nor the plugins we enable read it, so it is set to 0 here, before
// any page is written. The version stays in Roundcube's "About" box for
// logged-in users only.
class mailnest_no_version extends rcube_plugin
{
    public function init()
    {
        $output = rcmail::get_instance()->output;
        if ($output !== null && method_exists($output, 'set_env')) {
            $output->set_env('rcversion', 0);
        }
    }
}
