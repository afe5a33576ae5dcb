import type { FastifyReply } from 'fastify'
import { isUser, noStore, setUser, type LoginContext } from './context'
import { clearRememberCookie, rememberCookie, rememberValue, setRememberCookie } from './cookie'
import { checkMaxAge } from './options'
import { LoginError } from './errors'
import { fingerprint } from './protection'
import { isSafeRedirect, toLocation } from './redirect'
import {
  FINGERPRINT, STALE,
  appKeys, forget, regenerate, removeLogin, saveOrUndo, sessionOf, startLogin, storedUserId, versionOf, type LoginSession
} from './session'
import type { LoginOptions, LoginUser } from './types'

function requireSession (reply: FastifyReply, what: string): LoginSession {
  const session = sessionOf(reply.request)
  if (session === undefined) {
    throw new LoginError(`${what} needs a session: register @fastify/session, and call it under the session cookie's path`)
  }
  return session
}

/** The reply methods, bound to one plugin registration. */
export function createReplyMethods (context: LoginContext) {
  const { options, manager } = context

  async function loginUser (this: FastifyReply, user: LoginUser, loginOptions: LoginOptions = {}): Promise<boolean> {
    const { remember = false, maxAge, fresh = true, force = false } = loginOptions
    if (remember && options.remember === undefined) {
      throw new LoginError('loginUser({ remember: true }) needs the remember option to be configured')
    }
    if (maxAge !== undefined && !checkMaxAge(maxAge)) {
      throw new LoginError('loginUser maxAge must be a positive integer number of milliseconds, at most 400 days')
    }
    if (!isUser(user)) throw new LoginError('loginUser needs a user object')
    if (!force && !options.isActive(user)) return false
    const rawId = options.getUserId(user)
    if (rawId == null) throw new LoginError('getUserId returned null or undefined for the user')
    const id = String(rawId)

    const request = this.request
    const version = versionOf(context, user)
    const lifetime = maxAge ?? options.remember?.maxAge ?? 0
    const expires = Date.now() + lifetime
    // Before anything changes: a cookie no browser would keep fails the login.
    const cookie = remember ? rememberValue(context, id, expires, lifetime, version) : undefined
    const session = await startLogin(context, request, requireSession(this, 'loginUser'), {
      id, version, stale: !fresh, lifetime: remember ? lifetime : undefined
    })
    await saveOrUndo(session, () => removeLogin(session))
    setUser(request, user, 'session')

    if (cookie !== undefined) {
      setRememberCookie(context, this, cookie, expires)
    } else {
      // Also when this request did not carry one: it may be scoped to another path,
      // or set earlier in this same reply by another loginUser.
      clearRememberCookie(context, this)
    }
    noStore(this)
    manager.emit('login', request, user)
    return true
  }

  async function logoutUser (this: FastifyReply): Promise<void> {
    const request = this.request
    const session = sessionOf(request)
    const id = storedUserId(session)
    let user = request.user
    const hasCookie = rememberCookie(context, request) !== undefined
    if (user === null && id === undefined && !hasCookie) return
    if (session === undefined && request.authenticatedBy !== 'request') requireSession(this, 'logoutUser')
    if (user === null && id !== undefined) {
      // Under an `exclude` prefix no user was loaded; the logout event still names who left.
      const loaded = await options.loadUser(id, request)
      if (isUser(loaded)) user = loaded
    }

    if (session !== undefined && id !== undefined) {
      const keep = appKeys(session)
      const fresh = await regenerate(request, session, keep)
      if (keep.length === 0) await forget(request, fresh)
    }
    // Also when this request did not carry it: it may be scoped to another path.
    clearRememberCookie(context, this)
    setUser(request, null, null)
    noStore(this)
    if (user !== null) manager.emit('logout', request, user)
  }

  async function confirmLogin (this: FastifyReply): Promise<void> {
    const request = this.request
    const session = requireSession(this, 'confirmLogin')
    const user = request.user
    if (user === null || storedUserId(session) === undefined) {
      throw new LoginError('confirmLogin needs a user logged in through the session')
    }
    const confirmed = await regenerate(request, session, Object.keys(session).filter((key) => key !== 'cookie'))
    const before = { stale: confirmed[STALE], fingerprint: confirmed[FINGERPRINT] }
    delete confirmed[STALE]
    if (options.sessionProtection !== false) confirmed[FINGERPRINT] = fingerprint(request)
    await saveOrUndo(confirmed, () => {
      if (before.stale !== undefined) confirmed[STALE] = before.stale
      confirmed[FINGERPRINT] = before.fingerprint
    })
    noStore(this)
    manager.emit('loginConfirmed', request, user)
  }

  function redirectAfterLogin (this: FastifyReply, fallback = '/'): FastifyReply {
    const next = nextFrom(this.request.query, options.nextParam) ?? nextFrom(this.request.body, options.nextParam)
    return this.redirect(toLocation(isSafeRedirect(next) ? next : fallback))
  }

  return { loginUser, logoutUser, confirmLogin, redirectAfterLogin }
}

function nextFrom (source: unknown, param: string): unknown {
  if (source === null || typeof source !== 'object' || !Object.hasOwn(source, param)) return undefined
  return (source as Record<string, unknown>)[param]
}
