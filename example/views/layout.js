'use strict'

// What every page shares: escaping, the style, the navigation with the log-out
// button, and the banner shown while an admin acts as another user.
// Plain server-rendered HTML: every interpolated value goes through escapeHtml,
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
  body { font-family: system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5 }
  nav { display: flex; gap: 1rem; align-items: center; border-bottom: 1px solid #ddd; padding-bottom: .5rem }
  nav form, nav #account { margin-left: auto }
  label { display: block; margin: .5rem 0 }
  input[type=text], input[type=password] { display: block; padding: .3rem; width: 16rem }
  .error { color: #b00020 }
  .notice { background: #eef4ff; padding: .5rem 1rem }
  .notice > :first-child { margin-top: 0 }
  .notice > :last-child { margin-bottom: 0 }
  .acting { background: #fff3cd; border: 1px solid #e0b400; padding: .5rem 1rem; margin-bottom: 1rem }
  .acting form { display: inline }
  table { border-collapse: collapse; width: 100% }
  td, th { text-align: left; padding: .3rem; border-bottom: 1px solid #eee; vertical-align: top }
  td form { display: inline }
  small { color: #555 }
`

/** The hidden field that carries the CSRF token of a form. */
function csrfField (csrfToken) {
  return `<input type="hidden" name="_csrf" value="${escapeHtml(csrfToken)}">`
}

// The logout button is a form: logging out changes state, so it is a POST with a CSRF token.
function logoutForm ({ user, csrfToken, id }) {
  return `<form class="logout-form" method="post" action="/logout">
        ${csrfField(csrfToken)}
        <button id="${escapeHtml(id)}" type="submit">Log out ${escapeHtml(user.username)}</button>
      </form>`
}

// While an admin acts as a user (reply.impersonate), every page says so, with the
// way back. Error pages have no CSRF token: they send to the home page, which has the button.
function actingBanner ({ user, impersonator, csrfToken }) {
  const stop = csrfToken
    ? `<form method="post" action="/acting/stop">
        ${csrfField(csrfToken)}
        <button id="stop-acting" type="submit">Stop</button>
      </form>`
    : '<a id="stop-acting-link" href="/">Stop, from the home page</a>'
  return `<div id="acting" class="acting">
      You are acting as <strong>${escapeHtml(user.username)}</strong> — ${stop}
      <br><small>You are logged in as ${escapeHtml(impersonator.username)}. Acting as someone ends by itself after an hour.</small>
    </div>`
}

// Every page gets `user`, `impersonator` and `csrfToken` (see reply.render in app.js);
// `csrfToken` is set when someone is logged in, for the logout button. Error pages
// have no token (they write nothing to the session): the login page has the button.
function layout ({ title, user, impersonator, csrfToken, messages = [], body }) {
  let account = '<a href="/login">Log in</a>'
  if (user && csrfToken) account = logoutForm({ user: impersonator ?? user, csrfToken, id: 'logout-submit' })
  else if (user) account = `<a id="account" href="/login">${escapeHtml(user.username)}: log out or switch user</a>`

  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>${escapeHtml(title)} · fastify-login example</title>
  <style>${STYLE}</style>
</head>
<body>
  ${user && impersonator ? actingBanner({ user, impersonator, csrfToken }) : ''}
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
  return text ? `<p class="notice message">${escapeHtml(text)}</p>` : ''
}

module.exports = { escapeHtml, csrfField, layout, logoutForm, errorMessage, notice }
