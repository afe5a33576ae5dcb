'use strict'

// "Your sessions": the user's logins from the login registry, each with its device
// label ("Chrome on Linux", from describeDevice), when it was made and last seen,
// and a button to end it; then the history of ended logins and why each ended.

const { escapeHtml, csrfField, layout } = require('./layout')
const { endedHow } = require('../ended')

const DATE = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' })
const DAY = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeZone: 'UTC' })
const TIME = new Intl.DateTimeFormat('en-GB', { timeStyle: 'short', timeZone: 'UTC' })
const when = (ms) => `${DATE.format(ms)} UTC`
/** "6 Dec 2026, 10:31 – 10:44 UTC", the day written once when both are on the same day. */
const between = (from, to) => DAY.format(from) === DAY.format(to)
  ? `${DAY.format(from)}, ${TIME.format(from)} – ${TIME.format(to)} UTC`
  : `${when(from)} – ${when(to)}`

/** The device of a login: its label, never the raw User-Agent. */
const device = (login) => escapeHtml(login.device ?? 'Unknown browser')

/** How the login was made. `actedBy`: the admin's name, for an impersonation. */
function madeBy (login) {
  switch (login.method) {
    case 'credentials': return login.remembered ? 'password, remember me' : 'password'
    case 'remember': return 'remember me'
    case 'impersonation': return `${escapeHtml(login.actedBy)} acting as you`
    default: return escapeHtml(login.method)
  }
}

function loginRow (login, current, csrfToken) {
  const here = login.id === current
  return `<tr class="login${here ? ' current' : ''}">
        <td><span class="device">${device(login)}</span>${here ? ' <strong class="here">(this device)</strong>' : ''}<br><small>${escapeHtml(login.ip)} · ${madeBy(login)}</small></td>
        <td>since ${escapeHtml(when(login.createdAt))}<br><small>last seen ${escapeHtml(when(login.lastSeenAt))}</small></td>
        <td><form method="post" action="/account/sessions/${encodeURIComponent(login.id)}/end">
          ${csrfField(csrfToken)}
          <button class="end-login" type="submit">${here ? 'Log out' : 'End'}</button>
        </form></td>
      </tr>`
}

function historyRow (login) {
  return `<tr class="ended">
        <td><span class="device">${device(login)}</span><br><small>${escapeHtml(login.ip)} · ${madeBy(login)}</small></td>
        <td>${escapeHtml(between(login.createdAt, login.endedAt))}</td>
        <td class="reason">${escapeHtml(endedHow(login))}</td>
      </tr>`
}

function sessionsPage ({ user, impersonator, csrfToken, messages, logins, history, current, keptFor }) {
  const others = logins.filter((login) => login.id !== current).length
  return layout({
    title: 'Your sessions',
    user,
    impersonator,
    csrfToken,
    messages,
    body: `<p>Where ${escapeHtml(user.username)} is logged in. Ending a login logs that device out on its next request,
    "remember me" included.</p>
    <table id="logins">
      <tr><th>Device</th><th>Logged in</th><th></th></tr>
      ${logins.map((login) => loginRow(login, current, csrfToken)).join('\n      ')}
    </table>
    <form id="end-others" method="post" action="/account/sessions/end-others">
      ${csrfField(csrfToken)}
      <p><button id="end-others-submit" type="submit"${others > 0 ? '' : ' disabled'}>Log out all other devices</button></p>
    </form>
    <h2>History</h2>
    ${history.length === 0
      ? `<p id="no-history">No ended logins in the last ${escapeHtml(keptFor)}.</p>`
      : `<p>Logins ended in the last ${escapeHtml(keptFor)}.</p>
    <table id="history">
      <tr><th>Device</th><th>Logged in</th><th>How it ended</th></tr>
      ${history.map(historyRow).join('\n      ')}
    </table>`}`
  })
}

module.exports = { sessionsPage }
