'use strict'

// Logging in and out, and confirming the password for pages that need a fresh login.

const { isSafeRedirect, loginRequired } = require('fastify-login')
const views = require('../views')
const { isCsrfError, FORM_EXPIRED } = require('../errors')
const { inWords } = require('../config')
const { field } = require('../field')

const INVALID_CREDENTIALS = 'Invalid username or password'

async function accountRoutes (app, { users, lifetimes }) {
  // The login form, with what the person typed (never the password) and why it is shown again.
  function loginForm (request, reply, { form = {}, error, statusCode = 200 } = {}) {
    const next = field(form, 'next') || field(request.query, 'next')
    return reply.render(views.loginPage, {
      csrfToken: reply.generateCsrf(), // the form needs one even when nobody is logged in
      next,
      back: isSafeRedirect(next) ? next : '/',
      username: field(form, 'username'),
      remember: field(form, 'remember') === 'on',
      error
    }, statusCode)
  }

  // A form sent from a second tab (logging in drops the CSRF secret with the old
  // session) or after the session was lost fails the CSRF check: instead of an
  // error, show the same form again with a fresh token. Other errors go on to
  // the app's error pages.
  function whenFormExpired (render) {
    return function formExpired (error, request, reply) {
      if (!isCsrfError(error)) throw error
      request.log.info({ err: error }, 'form expired: shown again')
      return render(request, reply)
    }
  }

  app.get('/login', async (request, reply) => loginForm(request, reply))

  app.post('/login', {
    preHandler: app.csrfProtection,
    errorHandler: whenFormExpired((request, reply) =>
      loginForm(request, reply, { form: request.body, error: FORM_EXPIRED, statusCode: 403 }))
  }, async (request, reply) => {
    // One message for an unknown user and a wrong password, so that the page
    // does not reveal which usernames exist.
    const user = await users.authenticate(field(request.body, 'username'), field(request.body, 'password'))
    if (!user) return loginForm(request, reply, { form: request.body, error: INVALID_CREDENTIALS, statusCode: 401 })

    await reply.loginUser(user, { remember: field(request.body, 'remember') === 'on' })
    return reply.redirectAfterLogin('/')
  })

  app.post('/logout', {
    preHandler: app.csrfProtection,
    errorHandler: whenFormExpired((request, reply) => {
      if (!request.user) return reply.redirect('/') // logged out in another tab already
      return reply.render(views.errorPage, {
        title: 'The form expired',
        message: `${FORM_EXPIRED} with the log out button above.`,
        link: { href: '/', text: 'Go to the home page' }
      }, 403)
    })
  }, async (request, reply) => {
    await reply.logoutUser()
    return reply.redirect('/')
  })

  function reauthForm (request, reply, { next, error, statusCode = 200 }) {
    return reply.render(views.reauthPage, { next, error, freshFor: inWords(lifetimes.freshFor) }, statusCode)
  }

  // An admin acting as a user cannot prove to be that user: confirmLogin is refused
  // while impersonating, so the pages that need a fresh login stay out of reach.
  async function notWhileActing (request, reply) {
    if (!request.impersonator) return
    return reply.render(views.errorPage, {
      title: 'Not while acting as someone',
      message: `You are acting as ${request.user.username}: their settings need their own password. Stop acting as them first.`,
      link: { href: '/', text: 'Go to the home page' }
    }, 403)
  }

  app.get('/reauth', { preHandler: [loginRequired, notWhileActing] }, async (request, reply) => {
    return reauthForm(request, reply, { next: field(request.query, 'next') })
  })

  app.post('/reauth', {
    preHandler: [loginRequired, app.csrfProtection, notWhileActing],
    errorHandler: whenFormExpired((request, reply) =>
      reauthForm(request, reply, { next: field(request.body, 'next'), error: FORM_EXPIRED, statusCode: 403 }))
  }, async (request, reply) => {
    const next = field(request.body, 'next')
    if (!await users.checkPassword(request.user, field(request.body, 'password'))) {
      return reauthForm(request, reply, { next, error: 'Wrong password', statusCode: 401 })
    }
    await reply.confirmLogin()
    return reply.redirectAfterLogin('/settings')
  })
}

module.exports = accountRoutes
