// PM2 ecosystem of mailnest-policyd, the Postfix policy service that
// enforces sending limits.
//
// install/66-policyd.sh copies this file to /opt/mailnest/policyd/ecosystem.config.js
// and starts it with a PM2 daemon of the unprivileged `policyd` user
// (PM2_HOME=/var/lib/policyd/.pm2), apart from accountd's: each daemon runs
// as its own user. Settings (the database password among them) are in the
// root-owned, group-readable /etc/mailnest/policyd.env, which policyd reads
// itself. One process: it serves every Postfix connection from its threads,
// and it must stay one, because it holds the sending counters in memory
// (policyd/README.md, "How it is fast").
'use strict';

module.exports = {
	apps: [
		{
			name: 'mailnest-policyd',
			script: '/opt/mailnest/policyd/current/bin/mailnest-policyd',
			args: 'serve',
			interpreter: 'none',
			exec_mode: 'fork',
			instances: 1,
			merge_logs: true, // one file, no -0 suffix
			cwd: '/var/lib/policyd',
			env: {
				POLICYD_CONFIG_FILE: '/etc/mailnest/policyd.env',
			},
			out_file: '/var/log/mailnest-policyd/policyd.log',
			error_file: '/var/log/mailnest-policyd/policyd.error.log',
			time: true,
			// While it is down Postfix defers submissions (default_action):
			// come back at once, backing off only while it keeps crashing.
			autorestart: true,
			exp_backoff_restart_delay: 100,
			min_uptime: 5000,
			max_restarts: 50,
			// It lets connections finish the request in hand for up to 5 s.
			kill_timeout: 8000,
			watch: false,
		},
	],
};
