'use strict'

// Plain server-rendered HTML. Every interpolated value goes through escapeHtml,
// because usernames, `next` values and error messages can come from the request.

const HTML_ESCAPES = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;'
}

function escapeHtml (value) {
  return String(value ?? '').replace(/[&<>"']/g, (char) => HTML_ESCAPES[char])
}

const STYLE = `
  body { font-family: system-ui, sans-serif; max-width: 36rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5 }
  nav { display: flex; gap: 1rem; align-items: center; border-bottom: 1px solid #ddd; padding-bottom: .5rem }
  nav form, nav #account { margin-left: auto }
  label { display: block; margin: .5rem 0 }
  input[type=text], input[type=password] { display: block; padding: .3rem; width: 16rem }
  .error { color: #b00020 }
  .notice { background: #eef4ff; padding: .5rem 1rem }
  .notice > :first-child { margin-top: 0 }
  .notice > :last-child { margin-bottom: 0 }
  table { border-collapse: collapse; width: 100% }
  td, th { text-align: left; padding: .3rem; border-bottom: 1px solid #eee; vertical-align: top }
  td form { display: inline }
`

// The logout button is a form: logging out changes state, so it is a POST with a CSRF token.
function logoutForm ({ user, csrfToken, id }) {
  return `<form class="logout-form" method="post" action="/logout">
        <input type="hidden" name="_csrf" value="${escapeHtml(csrfToken)}">
        <button id="${escapeHtml(id)}" type="submit">Log out ${escapeHtml(user.username)}</button>
      </form>`
}

// Every page gets `user` and `csrfToken` (see reply.render in app.js); `csrfToken`
// is set when someone is logged in, for the logout button. Error pages have no
// token (they write nothing to the session): the login page has the button.
function layout ({ title, user, csrfToken, messages = [], body }) {
  let account = '<a href="/login">Log in</a>'
  if (user && csrfToken) account = logoutForm({ user, csrfToken, id: 'logout-submit' })
  else if (user) account = `<a id="account" href="/login">${escapeHtml(user.username)}: log out or switch user</a>`

  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>${escapeHtml(title)} · fastify-login example</title>
  <style>${STYLE}</style>
</head>
<body>
  <nav>
    <a href="/">Home</a>
    <a href="/protected">Protected</a>
    <a href="/settings">Settings</a>
    <a href="/admin">Admin</a>
    ${user ? '<a href="/account/sessions">Sessions</a>' : ''}
    ${account}
  </nav>
  <main>
    <h1>${escapeHtml(title)}</h1>
    ${messages.map((text) => notice(text)).join('\n    ')}
    ${body}
  </main>
</body>
</html>
`
}

function errorMessage (error) {
  return error ? `<p id="error" class="error">${escapeHtml(error)}</p>` : ''
}

function notice (text) {
  return text ? `<p id="notice" class="notice">${escapeHtml(text)}</p>` : ''
}

function homePage ({ user, csrfToken, messages, fresh, authenticatedBy }) {
  const status = user ? `Logged in as ${user.username}` : 'You are not logged in'
  const details = user
    ? `<p id="login-details">Found by: ${escapeHtml(authenticatedBy)}. Fresh login: ${fresh ? 'yes' : 'no'}.</p>`
    : '<p>Log in as <code>user1</code> (an admin) or <code>user2</code>, password <code>password</code>.</p>'
  return layout({
    title: 'Home',
    user,
    csrfToken,
    messages,
    body: `<p id="status">${escapeHtml(status)}</p>
    ${details}`
  })
}

// `next` is where the guard wanted to go; `back` is the safe version of it for a link.
// The typed username and the "remember me" box survive a failed attempt; the password never does.
// Why the page is shown ("Please log in to see that page.") is a message the guard flashed.
function loginPage ({ user, csrfToken, messages, next, back, username, remember, error }) {
  const status = user
    ? `<div id="logged-in" class="notice">
      <p>You are logged in as ${escapeHtml(user.username)}.</p>
      ${logoutForm({ user, csrfToken, id: 'login-page-logout' })}
      <p><a id="back" href="${escapeHtml(back)}">Go back</a>, or log in below as another user.</p>
    </div>`
    : ''

  return layout({
    title: 'Log in',
    user,
    csrfToken,
    messages,
    body: `${status}
    ${errorMessage(error)}
    <form id="login-form" method="post" action="/login">
      <input type="hidden" name="_csrf" value="${escapeHtml(csrfToken)}">
      <input type="hidden" name="next" value="${escapeHtml(next)}">
      <label>Username <input type="text" name="username" value="${escapeHtml(username)}" autocomplete="username" required ${username ? '' : 'autofocus'}></label>
      <label>Password <input type="password" name="password" autocomplete="current-password" required ${username ? 'autofocus' : ''}></label>
      <label><input type="checkbox" name="remember"${remember ? ' checked' : ''}> Remember me</label>
      <button id="login-submit" type="submit">Log in</button>
    </form>`
  })
}

function protectedPage ({ user, csrfToken }) {
  return layout({
    title: 'Protected',
    user,
    csrfToken,
    body: `<p id="protected">Hi ${escapeHtml(user.username)}, this page is protected</p>`
  })
}

function settingsPage ({ user, csrfToken }) {
  return layout({
    title: 'Settings',
    user,
    csrfToken,
    body: `<p id="settings">Settings of ${escapeHtml(user.username)}. This page needs a fresh login:
    you typed your password in this session.</p>`
  })
}

function adminPage ({ user, csrfToken }) {
  return layout({
    title: 'Admin',
    user,
    csrfToken,
    body: `<p id="admin">Hi ${escapeHtml(user.username)}. Only users with the admin role see this page.</p>`
  })
}

function reauthPage ({ user, csrfToken, messages, next, error }) {
  return layout({
    title: 'Confirm your password',
    user,
    csrfToken,
    messages,
    body: `${errorMessage(error)}
    <p>You were logged in from a remember-me cookie (or your connection changed).
    Please enter your password again to continue.</p>
    <form id="reauth-form" method="post" action="/reauth">
      <input type="hidden" name="_csrf" value="${escapeHtml(csrfToken)}">
      <input type="hidden" name="next" value="${escapeHtml(next)}">
      <label>Password for ${escapeHtml(user.username)}
        <input type="password" name="password" autocomplete="current-password" required autofocus></label>
      <button id="reauth-submit" type="submit">Confirm</button>
    </form>`
  })
}

const DATE = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' })

// Every login of the user, this one marked; each can be ended, or all the others at once.
function sessionsPage ({ user, csrfToken, logins, current }) {
  const endButton = (login) => `<form method="post" action="/account/sessions/${encodeURIComponent(login.id)}/end">
          <input type="hidden" name="_csrf" value="${escapeHtml(csrfToken)}">
          <button class="end-login" type="submit">${login.id === current ? 'Log out' : 'End'}</button>
        </form>`
  const rows = logins.map((login) => `<tr class="login${login.id === current ? ' current' : ''}">
        <td>${escapeHtml(login.userAgent || 'unknown browser')}<br><small>${escapeHtml(login.ip)}${login.id === current ? ' · this browser' : ''}</small></td>
        <td>${escapeHtml(login.method === 'remember' ? 'remember me' : 'password')}${login.remembered ? ', remembered' : ''}</td>
        <td>since ${escapeHtml(DATE.format(login.createdAt))} UTC<br><small>last seen ${escapeHtml(DATE.format(login.lastSeenAt))} UTC</small></td>
        <td>${endButton(login)}</td>
      </tr>`).join('\n')
  return layout({
    title: 'Your sessions',
    user,
    csrfToken,
    body: `<p>Where ${escapeHtml(user.username)} is logged in. Ending a login logs that browser out on its next request.</p>
    <table id="logins">
      <tr><th>Browser</th><th>How</th><th>When</th><th></th></tr>
      ${rows}
    </table>
    <form id="end-others" method="post" action="/account/sessions/end-others">
      <input type="hidden" name="_csrf" value="${escapeHtml(csrfToken)}">
      <button id="end-others-submit" type="submit"${logins.length > 1 ? '' : ' disabled'}>Log out all other sessions</button>
    </form>`
  })
}

// An error page: what happened, and a link to what to do next.
function errorPage ({ user, csrfToken, title, message, link }) {
  return layout({
    title,
    user,
    csrfToken,
    body: `<p id="error-message">${escapeHtml(message)}</p>
    <p><a id="error-link" href="${escapeHtml(link.href)}">${escapeHtml(link.text)}</a></p>`
  })
}

module.exports = {
  escapeHtml,
  homePage,
  loginPage,
  protectedPage,
  settingsPage,
  adminPage,
  reauthPage,
  sessionsPage,
  errorPage
}
