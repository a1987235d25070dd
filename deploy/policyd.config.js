// PM2 ecosystem of mailnest-policyd, the Postfix policy service that
// enforces sending limits.
//
// install/66-policyd.sh copies this file to /opt/mailnest/policyd/ecosystem.config.js
// and starts it with mailnest's one PM2 daemon, root's
// (PM2_HOME=/var/lib/mailnest/pm2), beside accountd's apps. PM2 runs setpriv,
// which becomes the unprivileged `policyd` user (its groups, no_new_privs)
// and execs mailnest-policyd: the pid PM2 watches and signals is policyd's. Settings (the database password among them) are in the
// root-owned, group-readable /etc/mailnest/policyd.env, which policyd reads
// itself. One process: it serves every Postfix connection from its threads,
// and it must stay one, because it holds the sending counters in memory
// (policyd/README.md, "How it is fast").
//
// The second app, mailnest-policyd-milter, is the same binary run as
// `mailnest-policyd milter`: the From:/Sender: check Postfix asks before
// OpenDKIM signs (policyd/README.md, "The From: milter"). A process of its
// own because libmilter takes over the main loop and the signals; it keeps
// no state, and while it is down Postfix defers the mail it would judge
// (milter_default_action = tempfail).
'use strict';

const user = 'policyd';
const binary = '/opt/mailnest/policyd/current/bin/mailnest-policyd';
const as_user = [`--reuid=${user}`, `--regid=${user}`, '--init-groups', '--no-new-privs', '--', binary];

const common = {
	interpreter: 'none',
	exec_mode: 'fork',
	instances: 1,
	merge_logs: true, // one file, no -0 suffix
	cwd: '/var/lib/policyd',
	script: '/usr/bin/setpriv',
	env: {
		HOME: '/var/lib/policyd',
		USER: user,
		LOGNAME: user,
		POLICYD_CONFIG_FILE: '/etc/mailnest/policyd.env',
	},
	time: true,
	// While it is down Postfix defers mail (default_action / tempfail):
	// come back at once, backing off only while it keeps crashing.
	autorestart: true,
	exp_backoff_restart_delay: 100,
	min_uptime: 5000,
	max_restarts: 50,
	watch: false,
	// Nothing PM2 would add for a Node.js app, nor git metadata.
	pmx: false,
	automation: false,
	vizion: false,
};

module.exports = {
	apps: [
		{
			...common,
			name: 'mailnest-policyd',
			args: [...as_user, 'serve'],
			out_file: '/var/log/mailnest-policyd/policyd.log',
			error_file: '/var/log/mailnest-policyd/policyd.error.log',
			// It lets connections finish the request in hand for up to 5 s.
			kill_timeout: 8000,
		},
		{
			...common,
			name: 'mailnest-policyd-milter',
			args: [...as_user, 'milter'],
			out_file: '/var/log/mailnest-policyd/milter.log',
			error_file: '/var/log/mailnest-policyd/milter.error.log',
			kill_timeout: 8000,
		},
	],
};
