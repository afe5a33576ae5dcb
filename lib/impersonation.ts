import type { FastifyReply, FastifyRequest } from 'fastify'
import { isUser, toUser } from './callbacks'
import { ImpersonationError, LoginError } from './errors'
import type { ImpersonationEndReason } from './events'
import { endLogin } from './login-end'
import { HOUR, isDuration } from './option-checks'
import type { Registration } from './registration'
import { kImpersonator, setUser } from './request-user'
import { noStore, track } from './responses'
import type { Standing } from './registry/registry'
import type { Verdict } from './session-check'
import { idOf, newState, recordVisit, requireSession, saveOrUndo, startLogin } from './session-login'
import type { AnySession } from './sessions'
import { decodeState, encodeState, type LoginState } from './state'
import type { ImpersonateOptions, LoginUser, UserObject } from './types'

/**
 * Support staff acting as a user. While it lasts, the session's login is the
 * target's (not fresh, never remembered, with its own registry record listing who
 * impersonates) and the staff login waits under `_<key>:staff`, exactly as it was.
 * It ends by `stopImpersonating`, by itself after `maxAge`, or with a logout; each
 * change of who the session is gets a new session id. It cannot nest.
 */

const DEFAULT_MAX_AGE = HOUR

/** `reply.impersonate` and `reply.stopImpersonating`, bound to one registration. */
export function createImpersonationMethods (registration: Registration) {
  const { options, sessions, keys, registry, report } = registration

  function impersonate (this: FastifyReply, target: UserObject, impersonateOptions: ImpersonateOptions = {}): Promise<void> {
    return track(this, 'impersonate', async (outcome) => {
      const request = this.request
      const canImpersonate = options.canImpersonate
      if (canImpersonate === undefined) throw new LoginError('reply.impersonate() needs the canImpersonate option')
      const maxAge = impersonateOptions.maxAge === undefined ? DEFAULT_MAX_AGE : impersonateOptions.maxAge
      if (!isDuration(maxAge, 1000)) throw new LoginError('impersonate maxAge must be a whole number of milliseconds from one second to 400 days')
      if (!isUser(target)) throw new LoginError('impersonate needs a user object')
      const session = requireSession(registration, request, 'impersonate')
      const state = decodeState(session[keys.state])
      const staff = request.user
      if (state?.impersonationEnds !== undefined) throw new ImpersonationError('impersonation cannot be nested: stop the current one first')
      if (staff === null || state === undefined || request.authenticatedBy !== 'session' || !request.isFresh()) {
        throw new ImpersonationError('impersonation needs a fresh login with credentials')
      }
      if (!await canImpersonate(staff, target, request)) throw new ImpersonationError('canImpersonate did not allow this impersonation')

      const targetId = idOf(registration, target)
      let loginId: string | undefined
      if (registry !== undefined) {
        const record = registry.newLogin(request, targetId, 'impersonation', false, state.userId)
        await registry.create(request, record, undefined)
        loginId = record.id
      }
      const acting = newState(registration, request, {
        userId: targetId, version: registration.versionOf(target), fresh: false, remember: undefined, loginId, impersonationEnds: Date.now() + maxAge
      })
      const started = await startLogin(registration, request, session, acting, { [keys.staff]: encodeState(state) })
      await saveOrUndo(registration, started, () => {
        sessions.write(started, keys.state, encodeState(state))
        sessions.write(started, keys.staff, undefined)
      })
      setUser(request, target, 'session', loginId)
      request[kImpersonator] = staff
      noStore(this)
      report.impersonation(request, staff, target, undefined)
      outcome.carried = (reply) => sessions.carried(request, reply, started, keys.state)
    })
  }

  function stopImpersonating (this: FastifyReply): Promise<void> {
    return track(this, 'stopImpersonating', async (outcome) => {
      const request = this.request
      const session = sessions.of(request)
      const state = decodeState(session?.[keys.state])
      if (session === undefined || state?.impersonationEnds === undefined) return
      const staff = await backToStaff(registration, request, this, session, state, 'stopped')
      if (staff === undefined) return
      const user = toUser(await options.loadUser(staff.state.userId, request), 'loadUser')
      setUser(request, user, user === null ? null : 'session', registry === undefined ? undefined : (user === null ? null : staff.state.loginId))
      request[kImpersonator] = null
      outcome.carried = (reply) => sessions.carried(request, reply, staff.session, keys.state)
    })
  }

  return { impersonate, stopImpersonating }
}

/**
 * Ends an impersonation: its record ends, the staff login comes back as it was
 * (fresh as before) in a new session. Undefined when no staff login waits (then
 * nobody is logged in).
 */
async function backToStaff (
  registration: Registration, request: FastifyRequest, reply: FastifyReply, session: AnySession, state: LoginState, reason: ImpersonationEndReason
): Promise<{ session: AnySession, state: LoginState } | undefined> {
  const { keys, options, registry } = registration
  const staffState = decodeState(session[keys.staff])
  const [target, staff] = await Promise.all([
    options.loadUser(state.userId, request),
    staffState === undefined ? null : options.loadUser(staffState.userId, request)
  ])
  const ended = reason === 'expired' ? 'absolute' : 'logout'
  if (registry !== undefined && state.loginId !== undefined) {
    await registry.end(request, state.userId, [state.loginId], ended)
  } else {
    registration.report.ended(request, { userId: state.userId, loginId: null, reason: ended })
  }
  const targetUser = toUser(target, 'loadUser')
  const staffUser = toUser(staff, 'loadUser')
  if (targetUser !== null && staffUser !== null) registration.report.impersonation(request, staffUser, targetUser, reason)
  noStore(reply)
  if (staffState === undefined) {
    registration.sessions.write(session, keys.state, undefined)
    registration.sessions.write(session, keys.staff, undefined)
    return undefined
  }
  // The staff member was active all along, acting as the target: the last visit is the impersonation's.
  const back = { ...staffState, seenAt: latest(staffState.seenAt, state.seenAt) }
  const started = await startLogin(registration, request, session, back)
  await saveOrUndo(registration, started, () => {})
  return { session: started, state: back }
}

function latest (a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.max(a, b)
}

/** The request-time end of an impersonation past its `maxAge`: back to the staff login, to be checked like any. */
export function expireImpersonation (
  registration: Registration, request: FastifyRequest, reply: FastifyReply, session: AnySession, state: LoginState
): Promise<{ session: AnySession, state: LoginState } | undefined> {
  return backToStaff(registration, request, reply, session, state, 'expired')
}

/**
 * A request while impersonating: `request.impersonator` is the staff user, whose
 * login must still stand too (failing closed, both logins end with it): revoked
 * elsewhere, its user gone or its credentials changed (`authVersion`), or past its
 * own `absoluteTimeout` (an impersonation never extends the staff login).
 */
export async function withImpersonator (
  registration: Registration, request: FastifyRequest, reply: FastifyReply, session: AnySession, state: LoginState, user: LoginUser
): Promise<Verdict> {
  const { keys, registry, options } = registration
  const now = Date.now()
  const staffState = decodeState(session[keys.staff])
  let standing: Standing = staffState === undefined ? 'revoked' : true
  if (standing === true && registry !== undefined) standing = await registry.check(staffState!.userId, staffState!.loginId, now)
  if (standing === true && options.absoluteTimeout !== undefined && now > (staffState!.startedAt ?? 0) + options.absoluteTimeout) standing = 'absolute'
  if (standing !== true) {
    await endLogin(registration, request, reply, session, state, standing, { shown: true, record: 'end' })
    return undefined
  }
  const staff = toUser(await options.loadUser(staffState!.userId, request), 'loadUser')
  if (staff === null) {
    await endLogin(registration, request, reply, session, state, 'revoked', { shown: false, record: 'end' })
    return undefined
  }
  if (options.authVersion !== undefined && staffState!.version !== registration.versionOf(staff)) {
    await endLogin(registration, request, reply, session, state, 'authVersion', { shown: true, record: 'end' })
    return undefined
  }
  setUser(request, user, 'session', state.loginId)
  request[kImpersonator] = staff
  recordVisit(registration, session, state, now)
  return undefined
}
