'use strict'

// The home page, the guarded pages and the error page.

const { escapeHtml, layout } = require('./layout')

function homePage ({ user, impersonator, csrfToken, messages, fresh, authenticatedBy }) {
  const status = user ? `Logged in as ${user.username}` : 'You are not logged in'
  const details = user
    ? `<p id="login-details">Found by: ${escapeHtml(authenticatedBy)}. Fresh login: ${fresh ? 'yes' : 'no'}.</p>`
    : '<p>Log in as <code>user1</code> (an admin) or <code>user2</code>, password <code>password</code>.</p>'
  return layout({
    title: 'Home',
    user,
    impersonator,
    csrfToken,
    messages,
    body: `<p id="status">${escapeHtml(status)}</p>
    ${details}`
  })
}

function protectedPage ({ user, impersonator, csrfToken }) {
  return layout({
    title: 'Protected',
    user,
    impersonator,
    csrfToken,
    body: `<p id="protected">Hi ${escapeHtml(user.username)}, this page is protected</p>`
  })
}

function settingsPage ({ user, impersonator, csrfToken, messages, freshFor }) {
  return layout({
    title: 'Settings',
    user,
    impersonator,
    csrfToken,
    messages,
    body: `<p id="settings">Settings of ${escapeHtml(user.username)}. This page needs a fresh login:
    your password, typed in the last ${escapeHtml(freshFor)}.</p>`
  })
}

// An error page: what happened, and a link to what to do next.
function errorPage ({ user, impersonator, csrfToken, title, message, link }) {
  return layout({
    title,
    user,
    impersonator,
    csrfToken,
    body: `<p id="error-message">${escapeHtml(message)}</p>
    <p><a id="error-link" href="${escapeHtml(link.href)}">${escapeHtml(link.text)}</a></p>`
  })
}

module.exports = { homePage, protectedPage, settingsPage, errorPage }
