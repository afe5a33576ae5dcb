'use strict'

// The pages: public, behind login, behind a fresh login, and behind a role.

const views = require('../views')

async function pageRoutes (app) {
  app.get('/', async (request, reply) => {
    return reply.render(views.homePage, {
      fresh: request.isFresh(),
      authenticatedBy: request.authenticatedBy
    })
  })

  app.get('/protected', { preHandler: app.loginRequired }, async (request, reply) => {
    return reply.render(views.protectedPage)
  })

  // A page for sensitive actions: a login restored from a remember-me cookie is
  // not enough, the user is sent to /reauth to type the password again.
  app.get('/settings', { preHandler: app.freshLoginRequired }, async (request, reply) => {
    return reply.render(views.settingsPage)
  })

  // Authorization on top of authentication: loginRequired answers "who are you?",
  // this hook "may you?". Anonymous visitors are sent to log in; a logged-in user
  // without the role gets a 403 page (an error from @fastify/sensible).
  function requireRole (role) {
    return async function hasRole (request) {
      if (!request.user.roles.includes(role)) {
        throw app.httpErrors.forbidden(`Only users with the ${role} role can see this page.`)
      }
    }
  }

  app.get('/admin', { preHandler: [app.loginRequired, requireRole('admin')] }, async (request, reply) => {
    return reply.render(views.adminPage)
  })
}

module.exports = pageRoutes
