import type { FastifyReply, FastifyRequest } from 'fastify'
import { isUser } from './callbacks'
import { ImpersonationError, LoginError } from './errors'
import type { Registration } from './registration'
import type { LoginMethod } from './registry/stores/types'
import { checkMaxAge } from './remember/options'
import type { Issued } from './remember/remember-me'
import { kImpersonator, kSeenElsewhere, setUser } from './request-user'
import { noStore, track, type CallOutcome } from './responses'
import { idOf, newState, requireSession, saveOrUndo, startLogin } from './session-login'
import type { AnySession } from './sessions'
import { decodeState, encodeState, ownerOf } from './state'
import type { LoginOptions, LogoutOptions, UserObject } from './types'

/**
 * The write path: `reply.loginUser`, `reply.logoutUser`, `reply.confirmLogin`.
 * Each runs under `track` (responses.ts): a route that forgot to `await` one gets a
 * 500 instead of an answer without the change.
 */

export interface LogInOptions extends LoginOptions {
  method: LoginMethod
}

/** `reply.loginUser()`, and the test helper's login: resolves false for an inactive user. */
export async function logIn (registration: Registration, reply: FastifyReply, user: UserObject, how: LogInOptions, outcome?: CallOutcome): Promise<boolean> {
  const { options, registry, remember, sessions, keys } = registration
  const { remember: remembered = false, maxAge, fresh = true, force = false, method } = how
  if (remembered && options.remember === undefined) {
    throw new LoginError('loginUser({ remember: true }) needs the remember option to be configured')
  }
  if (maxAge !== undefined && !checkMaxAge(maxAge)) {
    throw new LoginError('loginUser maxAge must be a positive integer number of milliseconds, at most 400 days')
  }
  if (!isUser(user)) throw new LoginError('loginUser needs a user object')
  if (!force && !options.isActive(user)) return false
  const userId = idOf(registration, user)

  const request = reply.request
  const session = requireSession(registration, request, 'loginUser')
  const version = registration.versionOf(user)
  const lifetime = maxAge ?? options.remember?.maxAge ?? 0
  const expiresAt = Date.now() + lifetime
  const previous = decodeState(session[keys.state])

  // Everything that can fail before anything changes: a cookie no browser would
  // keep, the registry's record of the new login (refused at `maxPerUser`).
  let issued: Issued | undefined
  let loginId: string | undefined
  if (registry !== undefined) {
    const record = registry.newLogin(request, userId, method, remembered)
    if (remembered) issued = remember.issue({ userId, version, lifetime, expiresAt, login: record })
    await registry.create(request, record, issued?.series)
    loginId = record.id
  } else if (remembered) {
    issued = remember.issue({ userId, version, lifetime, expiresAt, login: undefined })
  }

  const state = newState(registration, request, { userId, version, fresh, remember: remembered ? lifetime : undefined, loginId })
  const started = await startLogin(registration, request, session, state)
  const undo = async (): Promise<void> => {
    sessions.write(started, keys.state, undefined)
    if (registry !== undefined && loginId !== undefined) await registry.end(request, userId, [loginId], 'logout').catch(() => {})
  }
  try {
    await saveOrUndo(registration, started, () => sessions.write(started, keys.state, undefined))
  } catch (error) {
    await undo()
    throw error
  }
  // The login this session held before (another user's, or an earlier one) ended here.
  if (previous !== undefined) await endReplaced(registration, request, session, previous)
  setUser(request, user, 'session', loginId)
  request[kImpersonator] = null
  // This request's client is the new login's: an earlier 'basic' hit no longer applies.
  request[kSeenElsewhere] = false

  if (issued !== undefined) {
    remember.set(reply, issued.value, expiresAt)
  } else {
    // Also when this request did not carry one: it may be scoped to another path,
    // or set earlier in this same reply by another loginUser.
    remember.clear(reply)
  }
  noStore(reply)
  registration.report.login(request, user, userId, { method, remember: remembered })
  if (outcome !== undefined) {
    outcome.carried = (response) => sessions.carried(request, response, started, keys.state)
    outcome.undo = async () => {
      await undo()
      await sessions.save(started).catch(() => {})
    }
  }
  return true
}

/** A new login replaced the session's: that one (and a staff login waiting under it) ended. */
async function endReplaced (registration: Registration, request: FastifyRequest, session: AnySession, previous: NonNullable<ReturnType<typeof decodeState>>): Promise<void> {
  const staff = previous.impersonationEnds === undefined ? undefined : decodeState(session[registration.keys.staff])
  for (const login of staff === undefined ? [previous] : [previous, staff]) {
    if (registration.registry !== undefined && login.loginId !== undefined) {
      await registration.registry.end(request, login.userId, [login.loginId], 'logout')
    } else if (registration.registry === undefined) {
      registration.report.ended(request, { userId: login.userId, loginId: null, reason: 'logout' })
    }
  }
}

/** The reply methods, bound to one registration. */
export function createReplyMethods (registration: Registration) {
  const { options, registry, sessions, keys, remember, report } = registration

  function loginUser (this: FastifyReply, user: UserObject, loginOptions: LoginOptions = {}): Promise<boolean> {
    return track(this, 'loginUser', (outcome) => logIn(registration, this, user, { ...loginOptions, method: 'credentials' }, outcome))
  }

  function logoutUser (this: FastifyReply, logoutOptions: LogoutOptions = {}): Promise<void> {
    const everywhere = logoutOptions.everywhere === true
    const request = this.request
    const session = sessions.of(request)
    const state = decodeState(session?.[keys.state])
    const cookie = remember.read(request)
    const user = request.user
    const impersonator = request[kImpersonator] ?? null
    if (everywhere && registry === undefined) {
      return Promise.reject(new LoginError('logoutUser({ everywhere: true }) needs the login registry: set the logins option'))
    }
    if (user === null && state === undefined && cookie === undefined) return Promise.resolve()
    if (session === undefined && request.authenticatedBy !== 'request') {
      return Promise.reject(new LoginError(`logoutUser needs a session: register ${sessions.name}, and call it under the session cookie's path`))
    }
    const staff = state?.impersonationEnds === undefined ? undefined : decodeState(session?.[keys.staff])

    // First, at once: whatever the route does next (even without awaiting this), the
    // response cannot log this browser back in, from the session or the remember cookie.
    if (session !== undefined && state !== undefined) {
      sessions.write(session, keys.state, undefined)
      if (staff !== undefined || state.impersonationEnds !== undefined) sessions.write(session, keys.staff, undefined)
    }
    // Also when this request did not carry it: it may be scoped to another path.
    remember.clear(this)
    setUser(request, null, null, registry === undefined ? undefined : null)
    request[kImpersonator] = null
    noStore(this)

    return track(this, 'logoutUser', async () => {
      let loggedOut = user
      if (loggedOut === null && state !== undefined) {
        // Under an `exclude` prefix no user was loaded; the logout event still names who left.
        const loaded = await options.loadUser(state.userId, request)
        if (isUser(loaded)) loggedOut = loaded
      }
      const userId = state?.userId ?? (user === null ? undefined : idOf(registration, user))
      if (registry !== undefined) {
        if (state !== undefined) {
          if (state.loginId !== undefined) await registry.end(request, state.userId, [state.loginId], 'logout')
          if (staff?.loginId !== undefined) await registry.end(request, staff.userId, [staff.loginId], 'logout')
        } else if (cookie !== undefined) {
          // Only the remember cookie was seen (a route under `exclude`, right after a browser restart).
          await remember.forget(request, cookie)
        }
        // The user's other logins are revoked: their browsers are told they were logged out elsewhere.
        // While impersonating, the user at the keyboard is the staff member: theirs, never the target's.
        const everywhereId = staff?.userId ?? userId
        if (everywhere && everywhereId !== undefined) await registry.endAll(request, everywhereId, null, 'revoked')
      } else if (state !== undefined) {
        report.ended(request, { userId: state.userId, loginId: null, reason: 'logout' })
        if (staff !== undefined) report.ended(request, { userId: staff.userId, loginId: null, reason: 'logout' })
      }
      if (impersonator !== null && loggedOut !== null) report.impersonation(request, impersonator, loggedOut, 'logout')
      if (session !== undefined && state !== undefined) {
        const keep = sessions.keys(session).filter((key) => ownerOf(key) !== keys.state)
        const renewed = await sessions.regenerate(request, session, keep)
        if (keep.length === 0) await sessions.forget(request, renewed)
      }
      // Who left: the staff member at the keyboard, while impersonating.
      report.logout(request, impersonator ?? loggedOut, staff?.userId ?? userId, everywhere)
    })
  }

  function confirmLogin (this: FastifyReply): Promise<void> {
    return track(this, 'confirmLogin', async (outcome) => {
      const request = this.request
      const session = requireSession(registration, request, 'confirmLogin')
      const user = request.user
      const state = decodeState(session[keys.state])
      if (user === null || state === undefined || request.authenticatedBy === 'request') {
        throw new LoginError('confirmLogin needs a user logged in through the session')
      }
      // The staff member would make the target's login fresh: refused, like a nested impersonation.
      if (state.impersonationEnds !== undefined) throw new ImpersonationError('confirmLogin is refused while impersonating')
      const confirmed = await sessions.regenerate(request, session, sessions.keys(session))
      const fresh = {
        ...state,
        freshAt: Date.now(),
        fingerprint: registration.fingerprintOf(request)
      }
      sessions.write(confirmed, keys.state, encodeState(fresh))
      await saveOrUndo(registration, confirmed, () => sessions.write(confirmed, keys.state, encodeState(state)))
      // This request's client is now the login's: an earlier 'basic' hit no longer applies.
      if (request[kSeenElsewhere] === true) request[kSeenElsewhere] = false
      noStore(this)
      report.confirmed(request, user)
      outcome.carried = (reply) => sessions.carried(request, reply, confirmed, keys.state)
    })
  }

  return { loginUser, logoutUser, confirmLogin }
}
