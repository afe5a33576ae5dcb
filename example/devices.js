'use strict'

// "Firefox on Windows": the label the sessions page shows for a login, made once
// at login by fastify-login's `logins.describeDevice` and kept on its record.
// bowser (MIT, maintained) reads the User-Agent header; the raw header is never
// shown: it is long, unreadable, and whatever the client chose to send.

const Bowser = require('bowser')

/** A short label for the request's browser, or undefined when it names none (curl, an empty header). */
function describeDevice (request) {
  const userAgent = request.headers['user-agent']
  if (typeof userAgent !== 'string' || userAgent.trim() === '') return undefined // bowser refuses an empty one
  const { browser, os } = Bowser.parse(userAgent)
  if (!browser.name) return undefined
  return os.name ? `${browser.name} on ${os.name}` : browser.name
}

module.exports = { describeDevice }
