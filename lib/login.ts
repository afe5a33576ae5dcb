import type { FastifyReply, FastifyRequest } from 'fastify'
import { isUser, kSeenElsewhere, noStore, setUser, type LoginContext } from './context'
import { checkCookieSize, clearRememberCookie, rememberCookie, rememberValue, setRememberCookie } from './cookie'
import { LoginError } from './errors'
import { checkMaxAge } from './options'
import { fingerprintOf } from './protection'
import { versionDigest } from './remember'
import { isSafeRedirect, isAllowedAbsolute, toLocation } from './redirect'
import { encodeState, readState, type AnySession, type LoginState } from './session'
import type { LoginMethod } from './stores/types'
import type { LoginOptions, LoginUser, LogoutOptions } from './types'

/** The session of a request that must have one; the error says how to give it one. */
export function requireSession (context: LoginContext, request: FastifyRequest, what: string): AnySession {
  const session = context.sessions.of(request)
  if (session === undefined) {
    throw new LoginError(`${what} needs a session: register ${context.sessions.name}, and call it under the session cookie's path`)
  }
  return session
}

/** Digest of the user's auth version, '' without the option. */
export function versionOf (context: LoginContext, user: LoginUser): string {
  const authVersion = context.options.authVersion
  return authVersion === undefined ? '' : versionDigest(authVersion(user))
}

/**
 * The session keys a new login's session keeps: `keepSessionKeys`, the return
 * address (for `redirectAfterLogin`), and the other logins of the app.
 */
function keysToKeep (context: LoginContext, session: AnySession): string[] {
  const keep = [...context.options.keepSessionKeys]
  for (const key of context.sessions.keys(session)) {
    if (key !== context.stateKey && isLoginKey(context, key) && !keep.includes(key)) keep.push(key)
  }
  return keep
}

/** A key of some registration of the app: `_<key>` or `_<key>_next`. */
function isLoginKey (context: LoginContext, key: string): boolean {
  return context.allStateKeys.has(key) || (key.endsWith('_next') && context.allStateKeys.has(key.slice(0, -5)))
}

/** The app's keys in the session: everything but this registration's own. */
function appKeys (context: LoginContext, session: AnySession): string[] {
  return context.sessions.keys(session).filter((key) => key !== context.stateKey && key !== context.nextKey)
}

/**
 * Starts a login (loginUser, a remember-me restore, a test login) in a new session:
 * the old id is destroyed (fixation defence), only `keepSessionKeys` and the app's
 * other logins survive, and the login state is written here and nowhere else.
 */
export async function startLogin (context: LoginContext, request: FastifyRequest, session: AnySession, state: LoginState): Promise<AnySession> {
  const started = await context.sessions.regenerate(request, session, keysToKeep(context, session))
  context.sessions.write(started, context.stateKey, encodeState(state))
  return started
}

/** The login state of a new login of user `id`, made from this request. */
export function newState (
  context: LoginContext, request: FastifyRequest, id: string,
  login: { version: string, stale: boolean, remember: number | undefined, loginId: string | undefined }
): LoginState {
  const protection = context.options.protection
  return {
    id,
    stale: login.stale,
    fingerprint: protection === undefined ? '' : fingerprintOf(protection, request),
    version: login.version,
    remember: login.remember,
    loginId: login.loginId
  }
}

/**
 * Writes a login change to the store now, before any cookie is set. If the store
 * fails, `undo` takes the change out again and the error is thrown: @fastify/session
 * retries its save for the error response, and that retry must not store a change
 * the client was told failed.
 */
export async function saveOrUndo (context: LoginContext, session: AnySession, undo: () => void): Promise<void> {
  try {
    await context.sessions.save(session)
  } catch (error) {
    undo()
    throw error
  }
}

export interface LogInOptions extends LoginOptions {
  method: LoginMethod
}

/** `reply.loginUser()`, and the test helper's login: resolves false for an inactive user. */
export async function logIn (context: LoginContext, reply: FastifyReply, user: LoginUser, loginOptions: LogInOptions): Promise<boolean> {
  const { options, registry } = context
  const { remember = false, maxAge, fresh = true, force = false, method } = loginOptions
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

  const request = reply.request
  const session = requireSession(context, request, 'loginUser')
  const version = versionOf(context, user)
  const lifetime = maxAge ?? options.remember?.maxAge ?? 0
  const expiresAt = Date.now() + lifetime
  const previous = readState(session, context.stateKey)

  // Everything that can fail before anything changes: a cookie no browser would
  // keep, the registry's record of the new login.
  let cookie: string | undefined
  let loginId: string | undefined
  if (registry !== undefined) {
    const made = registry.newLogin(request, id, method, remember ? { expiresAt, lifetime, version } : undefined)
    cookie = made.cookie === undefined ? undefined : checkCookieSize(context, made.cookie)
    // The login this session held (another user's, or an earlier one) ends here.
    if (previous?.loginId !== undefined) await registry.revoke(previous.id, [previous.loginId])
    await registry.create(made.login, made.series)
    loginId = made.login.id
  } else if (remember) {
    cookie = rememberValue(context, id, expiresAt, lifetime, version)
  }

  const state = newState(context, request, id, { version, stale: !fresh, remember: remember ? lifetime : undefined, loginId })
  const started = await startLogin(context, request, session, state)
  try {
    await saveOrUndo(context, started, () => context.sessions.write(started, context.stateKey, undefined))
  } catch (error) {
    if (registry !== undefined && loginId !== undefined) await registry.revoke(id, [loginId]).catch(() => {})
    throw error
  }
  setUser(request, user, 'session', loginId)

  if (cookie !== undefined) {
    setRememberCookie(context, reply, cookie, expiresAt)
  } else {
    // Also when this request did not carry one: it may be scoped to another path,
    // or set earlier in this same reply by another loginUser.
    clearRememberCookie(context, reply)
  }
  noStore(reply)
  request.log.debug({ login: options.key, userId: id, method, remember }, 'fastify-login: logged in')
  context.manager.emit('login', request, user)
  return true
}

/** The reply methods, bound to one plugin registration. */
export function createReplyMethods (context: LoginContext) {
  const { options, manager, registry, sessions } = context

  function loginUser (this: FastifyReply, user: LoginUser, loginOptions: LoginOptions = {}): Promise<boolean> {
    return logIn(context, this, user, { ...loginOptions, method: 'credentials' })
  }

  async function logoutUser (this: FastifyReply, logoutOptions: LogoutOptions = {}): Promise<void> {
    const everywhere = logoutOptions.everywhere === true
    if (everywhere && registry === undefined) {
      throw new LoginError('logoutUser({ everywhere: true }) needs the login registry: set the logins option')
    }
    const request = this.request
    const session = sessions.of(request)
    const state = readState(session, context.stateKey)
    let user = request.user
    const hasCookie = rememberCookie(context, request) !== undefined
    if (user === null && state === undefined && !hasCookie) return
    if (session === undefined && request.authenticatedBy !== 'request') requireSession(context, request, 'logoutUser')
    if (user === null && state !== undefined) {
      // Under an `exclude` prefix no user was loaded; the logout event still names who left.
      const loaded = await options.loadUser(state.id, request)
      if (isUser(loaded)) user = loaded
    }

    if (registry !== undefined && state !== undefined) {
      if (everywhere) await registry.revokeAll(state.id, null)
      else if (state.loginId !== undefined) await registry.revoke(state.id, [state.loginId])
    }
    if (session !== undefined && state !== undefined) {
      const keep = appKeys(context, session)
      const fresh = await sessions.regenerate(request, session, keep)
      if (keep.length === 0) await sessions.forget(request, fresh)
    }
    // Also when this request did not carry it: it may be scoped to another path.
    clearRememberCookie(context, this)
    setUser(request, null, null, registry === undefined ? undefined : null)
    noStore(this)
    request.log.debug({ login: options.key, userId: state?.id, everywhere }, 'fastify-login: logged out')
    if (user !== null) manager.emit('logout', request, user)
  }

  async function confirmLogin (this: FastifyReply): Promise<void> {
    const request = this.request
    const session = requireSession(context, request, 'confirmLogin')
    const user = request.user
    const state = readState(session, context.stateKey)
    if (user === null || state === undefined) {
      throw new LoginError('confirmLogin needs a user logged in through the session')
    }
    const confirmed = await sessions.regenerate(request, session, sessions.keys(session))
    const fresh: LoginState = {
      ...state,
      stale: false,
      fingerprint: options.protection === undefined ? '' : fingerprintOf(options.protection, request)
    }
    sessions.write(confirmed, context.stateKey, encodeState(fresh))
    await saveOrUndo(context, confirmed, () => sessions.write(confirmed, context.stateKey, encodeState(state)))
    // This request's client is now the login's: an earlier 'basic' hit no longer applies.
    if (request[kSeenElsewhere] === true) request[kSeenElsewhere] = false
    noStore(this)
    manager.emit('loginConfirmed', request, user)
  }

  function redirectAfterLogin (this: FastifyReply, fallback = '/'): FastifyReply {
    const request = this.request
    let next = nextFrom(request.query, options.nextParam) ?? nextFrom(request.body, options.nextParam)
    if (options.nextInSession) {
      const session = sessions.of(request)
      const stored = session?.[context.nextKey]
      if (session !== undefined && stored !== undefined) sessions.write(session, context.nextKey, undefined)
      next ??= stored
    }
    const safe = isSafeRedirect(next) || (options.allowedRedirectOrigins.size > 0 && isAllowedAbsolute(next, options.allowedRedirectOrigins))
    return this.redirect(toLocation(safe ? next as string : fallback))
  }

  return { loginUser, logoutUser, confirmLogin, redirectAfterLogin }
}

function nextFrom (source: unknown, param: string): unknown {
  if (source === null || typeof source !== 'object' || !Object.hasOwn(source, param)) return undefined
  return (source as Record<string, unknown>)[param]
}
