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
  nav form { margin-left: auto }
  label { display: block; margin: .5rem 0 }
  input[type=text], input[type=password] { display: block; padding: .3rem; width: 16rem }
  .error { color: #b00020 }
`

// `csrfToken` is only needed when someone is logged in: the logout button is a form.
function layout ({ title, user, csrfToken, body }) {
  const account = user
    ? `<form id="logout-form" method="post" action="/logout">
        <input type="hidden" name="_csrf" value="${escapeHtml(csrfToken)}">
        <button id="logout-submit" type="submit">Log out ${escapeHtml(user.username)}</button>
      </form>`
    : '<a href="/login">Log in</a>'

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
    ${account}
  </nav>
  <main>
    <h1>${escapeHtml(title)}</h1>
    ${body}
  </main>
</body>
</html>
`
}

function errorMessage (error) {
  return error ? `<p id="error" class="error">${escapeHtml(error)}</p>` : ''
}

function homePage ({ user, csrfToken, fresh, authenticatedBy }) {
  const status = user ? `Logged in as ${user.username}` : 'You are not logged in'
  const details = user
    ? `<p id="login-details">Found by: ${escapeHtml(authenticatedBy)}. Fresh login: ${fresh ? 'yes' : 'no'}.</p>`
    : '<p>Log in as <code>user1</code> or <code>user2</code>, password <code>password</code>.</p>'
  return layout({
    title: 'Home',
    user,
    csrfToken,
    body: `<p id="status">${escapeHtml(status)}</p>
    ${details}`
  })
}

function loginPage ({ csrfToken, next, error, username }) {
  return layout({
    title: 'Log in',
    body: `${errorMessage(error)}
    <form id="login-form" method="post" action="/login">
      <input type="hidden" name="_csrf" value="${escapeHtml(csrfToken)}">
      <input type="hidden" name="next" value="${escapeHtml(next)}">
      <label>Username <input type="text" name="username" value="${escapeHtml(username)}" autocomplete="username" required autofocus></label>
      <label>Password <input type="password" name="password" autocomplete="current-password" required></label>
      <label><input type="checkbox" name="remember"> Remember me</label>
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

function reauthPage ({ user, csrfToken, next, error }) {
  return layout({
    title: 'Confirm your password',
    user,
    csrfToken,
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

module.exports = { escapeHtml, homePage, loginPage, protectedPage, settingsPage, reauthPage }
