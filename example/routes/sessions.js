'use strict'

// "Your sessions": every login of the user (the login registry), each with its
// device label, when it was made and last seen, and buttons to end one or all the
// others; below, the history of ended logins and why each ended. An ended login is
// logged out on its next request, on every instance, remember cookie included.

const { loginRequired } = require('fastify-login')
const views = require('../views')

async function sessionRoutes (app, { users, historyDays }) {
  const { loginManager } = app
  const form = { preHandler: [loginRequired, app.csrfProtection] }

  /** Adds `actedBy`, the admin's name, to an impersonation's record. */
  const named = (login) => login.impersonatorId === undefined
    ? login
    : { ...login, actedBy: users.byId(Number(login.impersonatorId))?.username ?? 'an admin' }

  app.get('/account/sessions', { preHandler: loginRequired }, async (request, reply) => {
    const [logins, history] = await Promise.all([
      loginManager.listLogins(request.user.id),
      loginManager.listLogins(request.user.id, { ended: true, limit: 20 })
    ])
    return reply.render(views.sessionsPage, {
      logins: logins.map(named),
      history: history.map(named),
      current: request.loginId,
      keptFor: `${historyDays} days`
    })
  })

  app.post('/account/sessions/:id/end', form, async (request, reply) => {
    const { id } = request.params
    if (id === request.loginId) {
      await reply.logoutUser()
      return reply.redirect('/')
    }
    // Only the user's own logins: revokeLogin ignores another user's login id.
    const login = (await loginManager.listLogins(request.user.id)).find((candidate) => candidate.id === id)
    if (login === undefined) {
      request.flash('info', 'That login had already ended.')
    } else {
      await loginManager.revokeLogin(request.user.id, id)
      request.flash('info', `Ended the login on ${login.device ?? 'an unknown browser'}: that device is logged out.`)
    }
    return reply.redirect('/account/sessions')
  })

  app.post('/account/sessions/end-others', form, async (request, reply) => {
    const ended = await loginManager.revokeLogins(request.user.id, { except: request.loginId })
    request.flash('info', ended === 0
      ? 'There were no other logins to end.'
      : `Ended ${ended === 1 ? 'the other login' : `${ended} other logins`}: only this device is logged in now.`)
    return reply.redirect('/account/sessions')
  })
}

module.exports = sessionRoutes
