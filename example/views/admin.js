'use strict'

// The admin page: every user, with "Act as this user" for those an admin may act as.

const { escapeHtml, csrfField, layout } = require('./layout')

// `users`: { user, canActAs }. `fresh`: the password was typed recently enough to act
// as someone at once; if not, the button asks for it first (see routes/admin.js).
function adminPage ({ user, impersonator, csrfToken, messages, users, fresh }) {
  const rows = users.map(({ user: target, canActAs }) => `<tr class="user">
        <td>${escapeHtml(target.username)}${target.id === user.id ? ' (you)' : ''}</td>
        <td>${escapeHtml(target.roles.join(', ') || 'user')}</td>
        <td>${canActAs
          ? `<form method="post" action="/admin/users/${encodeURIComponent(target.id)}/act-as">
          ${csrfField(csrfToken)}
          <button class="act-as" type="submit">Act as ${escapeHtml(target.username)}</button>
        </form>`
          : `<small>${target.id === user.id ? '' : 'an admin: nobody can act as them'}</small>`}</td>
      </tr>`).join('\n      ')
  return layout({
    title: 'Admin',
    user,
    impersonator,
    csrfToken,
    messages,
    body: `<p id="admin">Hi ${escapeHtml(user.username)}. Only users with the admin role see this page.</p>
    <p>Acting as a user shows you the site as they see it, to help them. They can see it on
    their sessions page. It lasts at most an hour, and cannot open their settings.
    ${fresh ? '' : '<strong id="confirm-first">You will be asked for your password first.</strong>'}</p>
    <table id="users">
      <tr><th>User</th><th>Roles</th><th></th></tr>
      ${rows}
    </table>`
  })
}

module.exports = { adminPage }
