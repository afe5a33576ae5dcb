'use strict'

// The admin page, and acting as another user ("impersonation"), for support staff.
// An admin acts as a user with reply.impersonate(): the pages are then the user's,
// with a banner and a Stop button (views/layout.js), until reply.stopImpersonating()
// or an hour. fastify-login allows it only from a fresh password login and where
// canImpersonate (users.js) says so: admins, never as another admin.

const { loginRequired, loginGuard } = require('fastify-login')
const views = require('../views')
const { isAdmin, canImpersonate } = require('../users')

async function adminRoutes (app, { users }) {
  // Authorization on top of authentication: loginRequired answers "who are you?",
  // this hook "may you?". A logged-in user without the role gets a 403 page.
  async function requireAdmin (request) {
    if (!isAdmin(request.user)) {
      throw app.httpErrors.forbidden('Only users with the admin role can see this page.')
    }
  }

  // The act-as button when the password was typed too long ago (FRESH_FOR): a guard
  // with its own answer. A form post cannot be sent on after the password page, so
  // the admin comes back to this page, with the password confirmed, and clicks again.
  const confirmPasswordFirst = loginGuard({
    fresh: true,
    onUnauthorized (request, reply) {
      request.flash('info', 'Please confirm your password to act as another user.')
      return reply.redirect(`/reauth?next=${encodeURIComponent('/admin')}`)
    }
  })

  app.get('/admin', { preHandler: [loginRequired, requireAdmin] }, async (request, reply) => {
    const everyone = users.all().map((user) => ({ user, canActAs: canImpersonate(request.user, user) }))
    return reply.render(views.adminPage, { users: everyone, fresh: request.isFresh() })
  })

  app.post('/admin/users/:id/act-as', {
    preHandler: [loginRequired, app.csrfProtection, requireAdmin, confirmPasswordFirst]
  }, async (request, reply) => {
    const target = users.byId(Number(request.params.id))
    if (!target) throw app.httpErrors.notFound('There is no such user.')
    if (!canImpersonate(request.user, target)) throw app.httpErrors.forbidden('Nobody can act as another admin.')
    await reply.impersonate(target)
    return reply.redirect('/')
  })

  // Every page's Stop button while acting as someone: back to the admin's own login.
  app.post('/acting/stop', { preHandler: [loginRequired, app.csrfProtection] }, async (request, reply) => {
    const admin = request.impersonator
    if (!admin) return reply.redirect('/') // stopped already, in another tab
    const acting = request.user
    await reply.stopImpersonating()
    request.flash('info', `You stopped acting as ${acting.username}. You are ${admin.username} again.`)
    return reply.redirect('/admin')
  })
}

module.exports = adminRoutes
