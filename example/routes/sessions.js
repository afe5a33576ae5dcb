'use strict'

// "Your sessions": every login of the user (the login registry), with where and
// when it was made, and buttons to end one or all the others. An ended login is
// logged out on its next request, on every instance, remember cookie included.

const views = require('../views')

async function sessionRoutes (app) {
  const { loginManager } = app
  const guarded = { preHandler: app.loginRequired }
  const form = { preHandler: [app.loginRequired, app.csrfProtection] }

  app.get('/account/sessions', guarded, async (request, reply) => {
    const logins = await loginManager.listLogins(request.user.id)
    return reply.render(views.sessionsPage, { logins, current: request.loginId })
  })

  app.post('/account/sessions/:id/end', form, async (request, reply) => {
    const { id } = request.params
    if (id === request.loginId) {
      await reply.logoutUser()
      return reply.redirect('/')
    }
    // Only the user's own logins: revokeLogin ignores another user's login id.
    await loginManager.revokeLogin(request.user.id, id)
    return reply.redirect('/account/sessions')
  })

  app.post('/account/sessions/end-others', form, async (request, reply) => {
    await loginManager.revokeLogins(request.user.id, { except: request.loginId })
    return reply.redirect('/account/sessions')
  })
}

module.exports = sessionRoutes
