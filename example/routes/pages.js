'use strict'

// The pages: public, behind login, and behind a fresh login. The guards are the
// package's own exports: they find the fastify-login registration of the route.

const { loginRequired, freshLoginRequired } = require('fastify-login')
const views = require('../views')
const { inWords } = require('../config')

async function pageRoutes (app, { lifetimes }) {
  app.get('/', async (request, reply) => {
    return reply.render(views.homePage, {
      fresh: request.isFresh(),
      authenticatedBy: request.authenticatedBy
    })
  })

  app.get('/protected', { preHandler: loginRequired }, async (request, reply) => {
    return reply.render(views.protectedPage)
  })

  // A page for sensitive actions: the password must have been typed within `freshFor`
  // (FRESH_FOR). After that, or after a remember-me login, the guard sends the
  // browser to /reauth to type it again, and back here after.
  app.get('/settings', { preHandler: freshLoginRequired }, async (request, reply) => {
    return reply.render(views.settingsPage, { freshFor: inWords(lifetimes.freshFor) })
  })
}

module.exports = pageRoutes
