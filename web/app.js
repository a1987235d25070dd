// mailnest sign-up and account pages. Plain script, no build step: it calls
// accountd's API under /api/v1/ and shows every refusal in words, next to
// the field it concerns, in live regions that screen readers announce.
'use strict';

const site = { hostname: location.hostname, domain: location.hostname.replace(/^[^.]+\./, '') };

// What each of accountd's error codes means to the person at the keyboard.
// field: the input the message belongs to (else it goes to the status box).
const ERRORS = {
  already_exists: { field: 'username', text: 'This address is already taken. Please choose another name.' },
  invalid_username: { field: 'username', text: 'This name cannot be used', withServer: true },
  weak_password: { field: 'password', text: 'This password is too weak', withServer: true },
  unknown_domain: { text: 'This server does not take sign-ups for that domain.' },
  registration_closed: { text: 'Sign-up is closed on this server at the moment. Please ask its administrator.' },
  invite_required: { field: 'invite', text: 'This server takes new members by invitation: please enter your invite code.' },
  invalid_invite: { field: 'invite', text: 'This invite code is not valid: it is unknown, already used, revoked or expired.' },
  invalid_credentials: { text: 'The address or the password is wrong.' },
  unauthorized: { text: 'Your session has ended. Please log in again.' },
  rate_limited: { text: 'Too many attempts from your network. Please wait a little and try again.' },
  busy: { text: 'The server is busy. Please try again in a few seconds.' },
  unavailable: { text: 'The service is unavailable right now. Please try again in a minute.' },
  payload_too_large: { text: 'What you entered is too long.' },
};

function $(selector, root = document) { return root.querySelector(selector); }
function $all(selector, root = document) { return Array.from(root.querySelectorAll(selector)); }

async function api(method, path, body, token) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = 'Bearer ' + token;
  let response;
  try {
    response = await fetch('/api/v1' + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit', cache: 'no-store',
    });
  } catch (e) {
    return { status: 0, data: { error: 'network', message: 'The server cannot be reached. Check your connection.' } };
  }
  let data = null;
  if (response.status !== 204) {
    try { data = await response.json(); } catch (e) { data = null; }
  }
  return { status: response.status, data, retryAfter: response.headers.get('Retry-After') };
}

// explain: an API failure as { field, text }.
function explain(result) {
  const code = result.data && result.data.error;
  const known = ERRORS[code];
  const serverWords = result.data && result.data.message ? String(result.data.message) : '';
  if (!known) {
    return { text: serverWords || 'Something went wrong (' + (result.status || 'no answer') + '). Please try again.' };
  }
  let text = known.text;
  if (known.withServer && serverWords) text += ': ' + serverWords + '.';
  else if (known.withServer) text += '.';
  if (code === 'rate_limited' && result.retryAfter) {
    const minutes = Math.max(1, Math.ceil(Number(result.retryAfter) / 60));
    text = 'Too many attempts from your network. Please try again in ' + minutes +
      (minutes === 1 ? ' minute.' : ' minutes.');
  }
  return { field: known.field, text };
}

function setStatus(box, kind, text) {
  box.textContent = text;
  box.className = 'status ' + kind;
  box.hidden = !text;
  if (text && kind === 'bad') box.focus();
}

function clearErrors(form) {
  $all('.error', form).forEach((p) => { p.textContent = ''; });
  $all('[aria-invalid]', form).forEach((input) => input.removeAttribute('aria-invalid'));
}

function fieldError(id, text) {
  const input = document.getElementById(id);
  const slot = document.getElementById(id + '-error');
  if (slot) slot.textContent = text;
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }
}

// showFailure: put the message by its field when there is one, else in the
// status box; returns nothing.
function showFailure(statusBox, result, fieldIds) {
  const what = explain(result);
  const id = what.field && fieldIds[what.field];
  if (id && document.getElementById(id)) {
    if (what.field === 'invite') $('#invite-box').open = true;
    setStatus(statusBox, 'bad', 'Please correct the marked field.');
    fieldError(id, what.text);
  } else {
    setStatus(statusBox, 'bad', what.text);
  }
}

async function busy(button, work) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = 'Please wait…';
  try { await work(); } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

function fillSiteNames() {
  $all('.js-hostname').forEach((el) => { el.textContent = site.hostname; });
  $all('.js-at-domain').forEach((el) => { el.textContent = '@' + site.domain; });
}

// ---- sign-up ---------------------------------------------------------------

function initSignup() {
  const form = $('#signup-form');
  const status = $('#signup-status');
  const username = $('#username');
  const preview = () => {
    const name = username.value.trim().toLowerCase();
    $('.js-full-address').textContent = name ? 'Your address will be ' + name + '@' + site.domain + '.' : '';
  };
  username.addEventListener('input', preview);

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearErrors(form);
    setStatus(status, '', '');
    const name = username.value.trim();
    const password = $('#password').value;
    const invite = $('#invite').value.trim();
    if (!name) return fieldError('username', 'Please choose a name for your address.');
    if (!/^[A-Za-z0-9._-]+$/.test(name)) {
      return fieldError('username', 'Use only letters, digits, dots, dashes and underscores.');
    }
    if ([...password].length < 10) return fieldError('password', 'The password must have at least 10 characters.');
    if (password !== $('#password2').value) return fieldError('password2', 'The two passwords are not the same.');

    const body = { username: name, password };
    if (invite) body.invite = invite;
    busy($('button[type="submit"]', form), async () => {
      const result = await api('POST', '/accounts', body);
      if (result.status === 201) {
        form.hidden = true;
        $('.js-new-address').textContent = result.data.email;
        setStatus(status, 'good', 'Your mailbox ' + result.data.email + ' has been created.');
        $('#signup-done').hidden = false;
        $('#done-title').focus();
      } else {
        showFailure(status, result, { username: 'username', password: 'password', invite: 'invite' });
      }
    });
  });
}

// ---- account -----------------------------------------------------------------

const session = {
  get token() { return sessionStorage.getItem('mailnest-token'); },
  set token(value) {
    if (value) sessionStorage.setItem('mailnest-token', value);
    else sessionStorage.removeItem('mailnest-token');
  },
};

function formatBytes(bytes) {
  if (!bytes) return 'unlimited';
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = bytes;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return (Number.isInteger(n) ? n : n.toFixed(1)) + ' ' + units[i];
}

function showLogin(message) {
  session.token = null;
  $('#me-section').hidden = true;
  $('#login-section').hidden = false;
  if (message) setStatus($('#account-status'), 'good', message);
}

async function showMe() {
  const status = $('#account-status');
  const result = await api('GET', '/me', undefined, session.token);
  if (result.status !== 200) {
    showLogin();
    if (result.status !== 401) setStatus(status, 'bad', explain(result).text);
    return;
  }
  $('.js-me-email').textContent = result.data.email;
  $('.js-me-quota').textContent = formatBytes(result.data.quota_bytes);
  $('.js-me-created').textContent = new Date(result.data.created_at).toLocaleDateString();
  $('#login-section').hidden = true;
  $('#me-section').hidden = false;
  $('#me-title').focus();
}

function initAccount() {
  const status = $('#account-status');
  const loginForm = $('#login-form');
  const passwordForm = $('#password-form');
  const deleteForm = $('#delete-form');

  loginForm.addEventListener('submit', (event) => {
    event.preventDefault();
    clearErrors(loginForm);
    setStatus(status, '', '');
    let email = $('#login-email').value.trim();
    const password = $('#login-password').value;
    if (!email) return fieldError('login-email', 'Please enter your address, like name@' + site.domain + '.');
    if (!email.includes('@')) email += '@' + site.domain;
    if (!password) return fieldError('login-password', 'Please enter your password.');
    busy($('button[type="submit"]', loginForm), async () => {
      const result = await api('POST', '/sessions', { email, password });
      if (result.status === 201) {
        session.token = result.data.token;
        loginForm.reset();
        await showMe();
      } else {
        showFailure(status, result, {});
      }
    });
  });

  $('#logout').addEventListener('click', async () => {
    await api('DELETE', '/sessions/current', undefined, session.token);
    showLogin('You are logged out.');
  });

  passwordForm.addEventListener('submit', (event) => {
    event.preventDefault();
    clearErrors(passwordForm);
    setStatus(status, '', '');
    const current = $('#current-password').value;
    const next = $('#new-password').value;
    if (!current) return fieldError('current-password', 'Please enter your current password.');
    if ([...next].length < 10) return fieldError('new-password', 'The new password must have at least 10 characters.');
    busy($('button[type="submit"]', passwordForm), async () => {
      const result = await api('PUT', '/me/password', { current_password: current, new_password: next }, session.token);
      if (result.status === 204) {
        passwordForm.reset();
        setStatus(status, 'good', 'Your password is changed. Mail apps will ask for the new one.');
      } else if (result.status === 401 && result.data && result.data.error === 'invalid_credentials') {
        setStatus(status, 'bad', 'Please correct the marked field.');
        fieldError('current-password', 'The current password is wrong.');
      } else if (result.status === 401) {
        showLogin();
        setStatus(status, 'bad', explain(result).text);
      } else {
        showFailure(status, result, { password: 'new-password' });
      }
    });
  });

  deleteForm.addEventListener('submit', (event) => {
    event.preventDefault();
    clearErrors(deleteForm);
    setStatus(status, '', '');
    const password = $('#delete-password').value;
    if (!password) return fieldError('delete-password', 'Please enter your password to confirm.');
    if (!$('#delete-confirm').checked) return fieldError('delete-confirm', 'Please tick the box to confirm.');
    busy($('button[type="submit"]', deleteForm), async () => {
      const result = await api('DELETE', '/me', { password }, session.token);
      if (result.status === 204) {
        deleteForm.reset();
        showLogin('Your account is deleted. Thank you for having been with us.');
      } else if (result.status === 401 && result.data && result.data.error === 'invalid_credentials') {
        setStatus(status, 'bad', 'Please correct the marked field.');
        fieldError('delete-password', 'The password is wrong.');
      } else {
        showFailure(status, result, {});
      }
    });
  });

  if (session.token) showMe(); else showLogin();
}

// start: handlers first (a form must never be submitted the browser's way,
// which would put the password in the URL), then the server's names.
async function start() {
  if (document.body.dataset.page === 'signup') initSignup();
  if (document.body.dataset.page === 'account') initAccount();
  fillSiteNames();
  try {
    const response = await fetch('/site.json', { cache: 'no-store' });
    if (response.ok) Object.assign(site, await response.json());
  } catch (e) { /* the defaults from the address bar are close enough */ }
  fillSiteNames();
}

start();
