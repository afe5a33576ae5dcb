'use strict'

// Error pages. A person in a browser gets an HTML page that says what to do next;
// an API client (a request that does not accept HTML) gets Fastify's JSON error
// format, so the guards' 401 stays { statusCode, code: 'FST_LOGIN_REQUIRED', ... }.
// A 5xx never shows its internal message (a Redis error, a failed loader):
// the real error goes to the log, the person gets "try again in a moment".

const { STATUS_CODES } = require('node:http')
const views = require('./views')
const { discardSession } = require('./session')

const SERVER_ERROR = 'Something went wrong on our side, try again in a moment.'
const FORM_EXPIRED = 'The form expired, please try again'

/** True when the client takes HTML: browsers send text/html in Accept, fetch() and curl do not. */
function acceptsHtml (request) {
  const accept = String(request.headers.accept ?? '').toLowerCase()
  return accept.split(',').some((range) => {
    const [type, ...params] = range.split(';').map((part) => part.trim())
    return type === 'text/html' && !params.some((param) => /^q=0(\.0*)?$/.test(param))
  })
}

/** The CSRF check failed: the form came from another tab, or the session behind it is gone. */
function isCsrfError (error) {
  return error.code === 'FST_CSRF_INVALID_TOKEN' || error.code === 'FST_CSRF_MISSING_SECRET'
}

function statusOf (error) {
  const status = error.statusCode ?? error.status
  return Number.isInteger(status) && status >= 400 && status <= 599 ? status : 500
}

const HOME = { href: '/', text: 'Go to the home page' }

/** What a person is told about a 4xx, and where to go from there. */
function describeClientError (error, request, statusCode) {
  if (isCsrfError(error)) {
    return { title: 'The form expired', message: `${FORM_EXPIRED}: go back, reload the page and send it again.`, link: HOME }
  }
  switch (statusCode) {
    case 401:
      // The guards redirect browser GETs to a login page; this is a form sent after the login ended.
      return error.code === 'FST_LOGIN_FRESH_REQUIRED'
        ? { title: 'Please confirm your password', message: 'Confirm your password to do that.', link: { href: '/reauth', text: 'Confirm your password' } }
        : { title: 'Please log in', message: 'You need to log in to do that.', link: { href: '/login', text: 'Log in' } }
    case 403:
      // fastify-login's refusal of reply.impersonate() speaks to developers: people get their own words.
      if (error.code === 'FST_LOGIN_IMPERSONATE') {
        return { title: 'Not allowed', message: 'You cannot act as that user now. Stop acting as anyone first, and confirm your password.', link: { href: '/admin', text: 'Go to the admin page' } }
      }
      return { title: 'Not allowed', message: error.message, link: { href: '/login', text: 'Log in as another user' } }
    case 404:
      return { title: 'Page not found', message: `There is no page at ${request.url}. Check the address.`, link: HOME }
    default:
      return { title: STATUS_CODES[statusCode] ?? 'Bad request', message: error.message, link: HOME }
  }
}

function errorHandler (error, request, reply) {
  const statusCode = statusOf(error)
  if (statusCode >= 500) {
    request.log.error({ err: error }, 'request failed')
    // A failed request writes nothing to the session: when the store is what
    // failed, saving it again while sending this page would fail again, and
    // Fastify would fall back to its own error, internal message and all.
    discardSession(request)
  } else {
    request.log.info({ err: error }, error.message)
  }

  if (!acceptsHtml(request)) {
    return reply.code(statusCode).send({
      statusCode,
      code: statusCode < 500 ? error.code : undefined,
      error: STATUS_CODES[statusCode],
      message: statusCode < 500 ? error.message : SERVER_ERROR
    })
  }

  // Error pages make no CSRF token, so that they never write the session either;
  // without one, the layout offers logging out through the login page.
  const page = statusCode >= 500
    ? views.errorPage({ user: null, title: 'Sorry', message: SERVER_ERROR, link: HOME })
    : views.errorPage({ user: request.user ?? null, impersonator: request.impersonator ?? null, ...describeClientError(error, request, statusCode) })
  return reply.code(statusCode).type('text/html; charset=utf-8').send(page)
}

/** Installs the error pages on `app`: call it before registering the routes. */
function installErrorPages (app) {
  app.setErrorHandler(errorHandler)
  // Unknown pages become a 404 error (@fastify/sensible), rendered by the handler above.
  app.setNotFoundHandler((request, reply) => reply.notFound(`Route ${request.method}:${request.url} not found`))
}

module.exports = { installErrorPages, isCsrfError, FORM_EXPIRED }
