'use strict'

// Why a login ended, in words, in two places:
// - the first page after a login ended (here or on another device, or by a
//   timeout): the request that finds it ended has `request.loginEndReason`, and a
//   hook flashes the reason in words, so that whichever page comes next says why:
//   the page itself (the home page), or the login page a guard sends the browser
//   to, under fastify-login's own `loginEndedMessage` (LOGIN_ENDED). Likewise when
//   an admin's acting as a user ran out.
// - the history on the sessions page, from each ended record's `endReason`.

const { inWords } = require('./config')

// Flashed by the guards, instead of "Please log in to see that page.", when the
// login just ended: under the reason the hook below flashed.
const LOGIN_ENDED = 'Please log in again to see that page.'

/** What the person is told on the first page after their login ended. */
function youWereLoggedOut (reason, lifetimes) {
  switch (reason) {
    case 'revoked': return 'You were logged out on another device: this login was ended from the sessions page.'
    case 'evicted': return 'You were logged out: you logged in on too many devices, and this was the oldest login.'
    case 'theft': return 'You were logged out: your "remember me" cookie was used in another browser, so this login was ended to be safe.'
    case 'idle': return `You were logged out after ${inWords(lifetimes.idleTimeout)} without using the site.`
    case 'absolute': return `You were logged out: a login lasts at most ${inWords(lifetimes.absoluteTimeout)}.`
    case 'authVersion': return 'You were logged out because your password changed.'
    case 'protection': return 'You were logged out because your connection changed.'
    default: return null // still logged in, or logged out by the person themselves
  }
}

/**
 * Flashes why the login ended, on the one request that finds it so. A preHandler
 * of the app runs after fastify-login found the login (onRequest) and before the
 * guards of the routes, so the reason is flashed before a guard's redirect.
 */
function tellWhyLoginEnded (app, lifetimes) {
  // Acting as a user lasts at most an hour: fastify-login ends it on the admin's next
  // request, with this event. The admin's own login comes back in a new session, so
  // what the listener flashed would go with the old one: the message waits for the hook.
  const actingRanOut = new WeakMap()
  app.loginManager.on('impersonationEnded', (request, admin, acting, reason) => {
    if (reason === 'expired') actingRanOut.set(request, `You stopped acting as ${acting.username}: it lasts at most an hour. You are ${admin.username} again.`)
  })

  app.addHook('preHandler', async (request) => {
    const why = youWereLoggedOut(request.loginEndReason, lifetimes) ?? actingRanOut.get(request)
    if (why) request.flash('info', why)
  })
}

/** How an ended login of the history ended, for its row. */
function endedHow (login) {
  if (login.method === 'impersonation') {
    return login.endReason === 'absolute' ? `${login.actedBy} acted as you until the time limit` : `${login.actedBy} stopped acting as you`
  }
  switch (login.endReason) {
    case 'logout': return 'logged out'
    case 'revoked': return 'ended from the sessions page'
    case 'evicted': return 'ended: too many logins'
    case 'theft': return 'ended: its remember-me cookie was copied'
    case 'idle': return 'timed out: not used for a while'
    case 'absolute': return 'timed out: reached its time limit'
    case 'authVersion': return 'ended: password changed'
    case 'protection': return 'ended: the connection changed'
    default: return 'ended'
  }
}

module.exports = { LOGIN_ENDED, tellWhyLoginEnded, endedHow }
