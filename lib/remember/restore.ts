import type { FastifyReply, FastifyRequest } from 'fastify'
import { toUser } from '../callbacks'
import type { Reporter } from '../events'
import type { Registration } from '../registration'
import { setUser } from '../request-user'
import { noStore } from '../responses'
import { newState, startLogin } from '../session-login'
import type { LoginUser, RememberRejectReason } from '../types'
import type { Lapsed } from './remember-me'
import type { RememberCookie } from './transport'

/**
 * The steps both kinds of remember-me take alike: refusing a cookie, finding the
 * user it names, and logging the request in from it.
 */

/** Rejects the request's cookie: cleared, reported; the request stays anonymous. */
export function reject (report: Reporter, cookie: RememberCookie, request: FastifyRequest, reply: FastifyReply, reason: RememberRejectReason): false {
  cookie.clear(reply)
  report.rejected(request, reason)
  return false
}

/**
 * The user a remember cookie names, when it may be restored: found (without asking
 * the loader again for a lapsed session's user) and active. Else the cookie is
 * rejected and the answer is false.
 */
export async function rememberedUser (
  registration: Registration, cookie: RememberCookie, request: FastifyRequest, reply: FastifyReply, userId: string, lapsed: Lapsed | undefined
): Promise<LoginUser | false> {
  const { options } = registration
  const user = lapsed === undefined ? toUser(await options.loadUser(userId, request), 'loadUser') : lapsed.user
  if (user === null) return reject(registration.report, cookie, request, reply, 'unknown-user')
  if (!options.isActive(user)) return reject(registration.report, cookie, request, reply, 'inactive')
  return user
}

/** A restore is a login, not fresh: a new session, so the cookie is not checked again while it lasts. */
export async function startRestored (
  registration: Registration, request: FastifyRequest, reply: FastifyReply, user: LoginUser,
  login: { userId: string, version: string, lifetime: number, loginId: string | undefined }
): Promise<void> {
  const session = registration.sessions.of(request)
  if (session !== undefined) {
    const state = newState(registration, request, { ...login, fresh: false, remember: login.lifetime })
    await startLogin(registration, request, session, state)
  }
  setUser(request, user, 'remember', login.loginId)
  noStore(reply)
  registration.report.restored(request, user, login.userId)
}
