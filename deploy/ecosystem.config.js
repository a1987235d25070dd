// PM2 ecosystem of mailnest: the processes PM2 supervises.
//
// install/40-accountd.sh copies this file to /opt/mailnest/ecosystem.config.js
// and starts it with mailnest's one PM2 daemon, root's
// (PM2_HOME=/var/lib/mailnest/pm2, which also runs deploy/policyd.config.js).
// PM2 runs setpriv, which becomes the unprivileged `accountd` user (its
// groups, no_new_privs) and execs accountd: the pid PM2 watches and signals
// is accountd's. accountd is a native binary, hence `interpreter: 'none'`. Its settings are not here: PM2 passes only the path
// of the root-owned, group-readable /etc/mailnest/accountd.env, which
// accountd reads itself. The script is reached through the
// /opt/mailnest/current symlink so that a new release is picked up by a
// restart. Logs go to /var/log/mailnest (rotated by /etc/logrotate.d/mailnest
// with copytruncate, so PM2 keeps writing to the same files).
'use strict';

const current = '/opt/mailnest/current';
const user = 'accountd';

module.exports = {
	apps: [
		{
			name: 'accountd',
			script: '/usr/bin/setpriv',
			args: [`--reuid=${user}`, `--regid=${user}`, '--init-groups', '--no-new-privs', '--',
				`${current}/bin/accountd`, 'serve'],
			interpreter: 'none',
			exec_mode: 'fork',
			// Two processes share 127.0.0.1:8080 (SO_REUSEPORT); deploy.sh
			// restarts them one at a time, so one always serves. Both write
			// to the same log files.
			instances: 2,
			merge_logs: true,
			cwd: '/var/lib/accountd',
			env: {
				HOME: '/var/lib/accountd',
				USER: user,
				LOGNAME: user,
				ACCOUNTD_CONFIG_FILE: '/etc/mailnest/accountd.env',
				ACCOUNTD_REUSE_PORT: '1',
			},
			out_file: '/var/log/mailnest/accountd.log',
			error_file: '/var/log/mailnest/accountd.error.log',
			time: true,
			// Restart on crash at once, backing off (from 100 ms, up to
			// 15 s) only while it keeps crashing; a run of 10 s counts as
			// a successful start.
			autorestart: true,
			exp_backoff_restart_delay: 100,
			min_uptime: 10000,
			max_restarts: 50,
			// accountd finishes its in-flight requests on SIGINT/SIGTERM,
			// for up to 30 s: let it.
			kill_timeout: 35000,
			watch: false,
			// Nothing PM2 would add for a Node.js app, nor git metadata.
			pmx: false,
			automation: false,
			vizion: false,
		},
	],
};
