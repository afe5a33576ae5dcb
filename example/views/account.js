'use strict'

// The login page and the confirm-password page.

const { escapeHtml, csrfField, layout, logoutForm, errorMessage } = require('./layout')

// `next` is where the guard wanted to go; `back` is the safe version of it for a link.
// The typed username and the "remember me" box survive a failed attempt; the password never does.
// Why the page is shown ("Please log in to see that page.", "You were logged out...")
// is a message flashed before the guard sent the browser here (see ended.js).
function loginPage ({ user, impersonator, csrfToken, messages, next, back, username, remember, error }) {
  const status = user
    ? `<div id="logged-in" class="notice">
      <p>You are logged in as ${escapeHtml(user.username)}.</p>
      ${logoutForm({ user: impersonator ?? user, csrfToken, id: 'login-page-logout' })}
      <p><a id="back" href="${escapeHtml(back)}">Go back</a>, or log in below as another user.</p>
    </div>`
    : ''

  return layout({
    title: 'Log in',
    user,
    impersonator,
    csrfToken,
    messages,
    body: `${status}
    ${errorMessage(error)}
    <form id="login-form" method="post" action="/login">
      ${csrfField(csrfToken)}
      <input type="hidden" name="next" value="${escapeHtml(next)}">
      <label>Username <input type="text" name="username" value="${escapeHtml(username)}" autocomplete="username" required ${username ? '' : 'autofocus'}></label>
      <label>Password <input type="password" name="password" autocomplete="current-password" required ${username ? 'autofocus' : ''}></label>
      <label><input type="checkbox" name="remember"${remember ? ' checked' : ''}> Remember me</label>
      <button id="login-submit" type="submit">Log in</button>
    </form>`
  })
}

// `freshFor` in words ("10 minutes"): how long a typed password counts.
function reauthPage ({ user, impersonator, csrfToken, messages, next, error, freshFor }) {
  return layout({
    title: 'Confirm your password',
    user,
    impersonator,
    csrfToken,
    messages,
    body: `${errorMessage(error)}
    <p id="reauth-why">You typed your password more than ${escapeHtml(freshFor)} ago, or this browser
    logged you in with "remember me". Type it again to go on.</p>
    <form id="reauth-form" method="post" action="/reauth">
      ${csrfField(csrfToken)}
      <input type="hidden" name="next" value="${escapeHtml(next)}">
      <label>Password for ${escapeHtml(user.username)}
        <input type="password" name="password" autocomplete="current-password" required autofocus></label>
      <button id="reauth-submit" type="submit">Confirm</button>
    </form>`
  })
}

module.exports = { loginPage, reauthPage }
