import type { FastifyReply, FastifyRequest } from 'fastify'
import { kSeenElsewhere, noStore, setUser, toUser, type LoginContext } from './context'
import { clearRememberCookie, rememberCookie, rememberValue, setRememberCookie } from './cookie'
import { newState, startLogin, versionOf } from './login'
import { isPromise } from './options'
import { fingerprintOf } from './protection'
import type { Token } from './registry'
import type { RememberSeries } from './stores/types'
import { readState, type AnySession, type LoginState } from './session'
import { ticketOf, testLogin, testing } from './ticket'
import type { LoginUser, RememberRejectReason } from './types'

type Done = (error?: Error) => void

/**
 * A session login that no longer stands (its user is gone or its credentials
 * changed): a remember cookie may still restore that same user, without asking the
 * loader again.
 */
interface Stale {
  id: string
  user: LoginUser | null
}

/** What checking the session's login against its user decided. */
const enum Outcome {
  /** `request.user` is set, or the request stays anonymous: nothing more to do. */
  Done,
  /** The login ended ('strong' protection): end it in the registry too. */
  Ended,
  /** The login does not stand: try the remember cookie and `loadUserFromRequest`. */
  Stale
}

/**
 * Builds the `onRequest` hook that sets `request.user`: from the session, else from
 * the remember cookie, else from `loadUserFromRequest`. Callback style, so that a
 * request with no login costs a property read or two and no promise, and a session
 * login with a sync loader none either.
 */
export function createLoadHook (context: LoginContext, router: RouterMatching) {
  const { options, sessions, stateKey } = context
  const excluded = createExcludeMatcher(options.exclude, router)
  const needsNoLogin = options.loadUserFromRequest === undefined && options.remember === undefined

  return function loadLoginUser (request: FastifyRequest, reply: FastifyReply, done: Done): void {
    if (testing.enabled) {
      const ticket = ticketOf(request)
      if (ticket !== undefined) return testLogin(context, request, reply, ticket, done)
    }
    if (excluded !== undefined && excluded(request.url)) return done()
    const session = sessions.of(request)
    const state = readState(session, stateKey)
    if (state === undefined) {
      if (needsNoLogin || (options.loadUserFromRequest === undefined && rememberCookie(context, request) === undefined)) {
        return done()
      }
      afterSession(context, request, reply, undefined).then(() => done(), done)
      return
    }
    if (context.registry !== undefined) {
      fromRegistry(context, request, reply, session!, state).then(() => done(), done)
      return
    }

    let loaded: ReturnType<typeof options.loadUser>
    try {
      loaded = options.loadUser(state.id, request)
    } catch (error) {
      return done(error as Error)
    }
    if (isPromise(loaded)) {
      loaded.then((user) => finishSession(context, request, reply, session!, state, user, done), done)
    } else {
      finishSession(context, request, reply, session!, state, loaded, done)
    }
  }
}

function finishSession (
  context: LoginContext, request: FastifyRequest, reply: FastifyReply, session: AnySession, state: LoginState,
  loaded: unknown, done: Done
): void {
  let user: LoginUser | null
  let outcome: Outcome
  try {
    user = toUser(loaded, 'loadUser')
    outcome = fromSession(context, request, reply, session, state, user)
  } catch (error) {
    return done(error as Error)
  }
  if (outcome !== Outcome.Stale) return done()
  afterSession(context, request, reply, { id: state.id, user }).then(() => done(), done)
}

/** The login registry's path: the login's record must still stand, on every request. */
async function fromRegistry (context: LoginContext, request: FastifyRequest, reply: FastifyReply, session: AnySession, state: LoginState): Promise<void> {
  const registry = context.registry!
  if (state.loginId === undefined || !await registry.stands(state.loginId, state.id)) {
    // Revoked (here or on another instance), expired, or from before the registry.
    removeLogin(context, request, reply, session, 'revoked')
    return afterSession(context, request, reply, undefined)
  }
  const user = toUser(await context.options.loadUser(state.id, request), 'loadUser')
  const outcome = fromSession(context, request, reply, session, state, user)
  if (outcome === Outcome.Ended) {
    await registry.revoke(state.id, [state.loginId])
  } else if (outcome === Outcome.Stale) {
    await registry.revoke(state.id, [state.loginId])
    return afterSession(context, request, reply, { id: state.id, user })
  } else if (context.options.remember?.refresh === true && request.user !== null) {
    const cookie = rememberCookie(context, request)
    if (cookie !== undefined) await refreshToken(context, request, reply, cookie, state, request.user)
  }
}

/** Checks the session's login against its loaded user; sets `request.user` when it stands. */
function fromSession (
  context: LoginContext, request: FastifyRequest, reply: FastifyReply, session: AnySession, state: LoginState, user: LoginUser | null
): Outcome {
  const { options } = context
  if (user === null || (options.authVersion !== undefined && state.version !== versionOf(context, user))) {
    // The user is gone or its credentials changed: drop the stale login so the loader is not asked again.
    removeLogin(context, request, reply, session, user === null ? 'unknown-user' : 'version')
    return Outcome.Stale
  }

  const protection = options.protection
  if (protection !== undefined && state.fingerprint !== fingerprintOf(protection, request)) {
    context.manager.emit('sessionProtected', request, protection.mode)
    request.log.debug({ login: options.key, userId: state.id, mode: protection.mode }, 'fastify-login: session protection hit')
    if (protection.mode === 'strong') {
      removeLogin(context, request, reply, session, undefined)
      // Also when this request did not carry it: it may be scoped to another path.
      clearRememberCookie(context, reply)
      // The session cookie is sent again: no shared cache may keep this response.
      noStore(reply)
      return Outcome.Ended
    }
    // 'basic': this request is not fresh. Nothing is written: a request that only
    // reads a login must not save the session (it could outlive a logout).
    request[kSeenElsewhere] = true
  }

  setUser(request, user, 'session', state.loginId)
  if (options.remember?.refresh === true && context.codec !== undefined) {
    const cookie = rememberCookie(context, request)
    if (cookie !== undefined) refreshCookie(context, request, reply, cookie, state.id, user)
  }
  return Outcome.Done
}

/**
 * Takes this registration's login out of the session: a login change, so the
 * session is saved and its cookie sent again, in a response no shared cache keeps.
 */
function removeLogin (context: LoginContext, request: FastifyRequest, reply: FastifyReply, session: AnySession, why: string | undefined): void {
  context.sessions.write(session, context.stateKey, undefined)
  noStore(reply)
  if (why !== undefined) request.log.debug({ login: context.options.key, reason: why }, 'fastify-login: stale login removed from the session')
}

/** No session login stands: try the remember cookie, then `loadUserFromRequest`. */
async function afterSession (context: LoginContext, request: FastifyRequest, reply: FastifyReply, stale: Stale | undefined): Promise<void> {
  if (context.options.remember !== undefined) {
    const cookie = rememberCookie(context, request)
    if (cookie !== undefined) {
      const restored = context.registry === undefined
        ? await fromRemember(context, request, reply, cookie, stale)
        : await fromToken(context, request, reply, cookie, stale)
      if (restored) return
    }
  }

  const loadUserFromRequest = context.options.loadUserFromRequest
  if (loadUserFromRequest !== undefined) {
    const user = toUser(await loadUserFromRequest(request), 'loadUserFromRequest')
    if (user !== null) {
      setUser(request, user, 'request')
      context.manager.emit('loadedFromRequest', request, user)
    }
  }
}

/**
 * `refresh`: extends the request's remember cookie only when it is a valid one of
 * this same user, unexpired and of the current auth version. Anything else under
 * its name is rejected: a stolen session cookie must not become a remember cookie.
 */
function refreshCookie (context: LoginContext, request: FastifyRequest, reply: FastifyReply, cookie: string, id: string, user: LoginUser): false | undefined {
  const decoded = context.codec!.decode(cookie, Date.now())
  if (!decoded.ok) return reject(context, request, reply, decoded.reason)
  const { payload } = decoded
  if (payload.id !== id) return reject(context, request, reply, 'other-user')
  const version = versionOf(context, user)
  if (payload.version !== version) return reject(context, request, reply, 'version')
  const expires = Date.now() + payload.lifetime
  setRememberCookie(context, reply, rememberValue(context, id, expires, payload.lifetime, version), expires)
  return undefined
}

/** `refresh` under the login registry: the token must be the current one of this login's series. */
async function refreshToken (context: LoginContext, request: FastifyRequest, reply: FastifyReply, cookie: string, state: LoginState, user: LoginUser): Promise<false | undefined> {
  const registry = context.registry!
  const token = registry.parse(cookie)
  if ('reason' in token) return reject(context, request, reply, token.reason)
  const series = await registry.getSeries(token.selector)
  const now = Date.now()
  if (series === null) return reject(context, request, reply, 'revoked')
  if (series.loginId !== state.loginId || registry.userOf(series) !== state.id) return reject(context, request, reply, 'other-user')
  // The current token, re-signed (it may have been signed by an older secret); or the
  // current one handed to a browser that still holds the one before it, within the grace window.
  const current = registry.isCurrent(series, token.validator) ? registry.cookie(token.selector, token.validator) : registry.healed(series, token.validator, now)
  if (current === null) return reject(context, request, reply, 'signature')
  if (series.expiresAt <= now) return reject(context, request, reply, 'expired')
  if (series.version !== versionOf(context, user)) return reject(context, request, reply, 'version')
  const expiresAt = now + series.lifetime
  setRememberCookie(context, reply, current, expiresAt)
  await registry.extend(token.selector, expiresAt)
  return undefined
}

/**
 * Logs the request in from its stateless remember cookie. `stale` is the login the
 * session held but no longer stands (its user was loaded already): the cookie may
 * only restore that same user, without asking the loader a second time.
 */
async function fromRemember (
  context: LoginContext, request: FastifyRequest, reply: FastifyReply, cookie: string, stale: Stale | undefined
): Promise<boolean> {
  const { options } = context
  const decoded = context.codec!.decode(cookie, Date.now())
  if (!decoded.ok) return reject(context, request, reply, decoded.reason)

  const { id, expires, lifetime, version, renew } = decoded.payload
  // A sound cookie for someone else than the stale session's user is left for the next request.
  if (stale !== undefined && stale.id !== id) return false
  const user = await rememberedUser(context, request, reply, id, stale)
  if (user === false) return false
  const currentVersion = versionOf(context, user)
  if (version !== currentVersion) return reject(context, request, reply, 'version')

  await restore(context, request, user, id, currentVersion, lifetime, undefined)
  const refresh = options.remember!.refresh
  if (renew || refresh) {
    const until = refresh ? Date.now() + lifetime : expires
    setRememberCookie(context, reply, rememberValue(context, id, until, lifetime, currentVersion), until)
  }
  restored(context, request, reply, user, id)
  return true
}

/**
 * Logs the request in from its remember token (login registry): the token's series
 * is rotated, a copied token is caught, parallel requests of one browser within the
 * grace window share the rotation.
 */
async function fromToken (
  context: LoginContext, request: FastifyRequest, reply: FastifyReply, cookie: string, stale: Stale | undefined
): Promise<boolean> {
  const registry = context.registry!
  const token = registry.parse(cookie)
  if ('reason' in token) return reject(context, request, reply, token.reason)
  const series = await registry.getSeries(token.selector)
  if (series === null) return reject(context, request, reply, 'revoked')
  const userId = registry.userOf(series)!
  if (stale !== undefined && stale.id !== userId) return false
  if (series.expiresAt <= Date.now()) return reject(context, request, reply, 'expired')
  const user = await rememberedUser(context, request, reply, userId, stale)
  if (user === false) return false
  const version = versionOf(context, user)
  if (version !== series.version) {
    // Credentials changed since: this series can never work again.
    await registry.revoke(userId, [series.loginId])
    return reject(context, request, reply, 'version')
  }
  if (cannotSetCookies(request) &&
    (registry.isCurrent(series, token.validator) || registry.healed(series, token.validator) !== null)) {
    // An upgrade (a WebSocket) gets no Set-Cookie: a rotation here would be lost, and
    // the browser's next restore would look like a copied cookie. This request is
    // let in on the current token, without rotating and without a session.
    setUser(request, user, 'remember', series.loginId)
    restored(context, request, reply, user, userId)
    return true
  }
  return rotate(context, request, reply, token, user, userId, series, version)
}

async function rotate (
  context: LoginContext, request: FastifyRequest, reply: FastifyReply, token: Token, user: LoginUser, userId: string,
  presented: RememberSeries, version: string
): Promise<boolean> {
  const registry = context.registry!
  const { login } = registry.newLogin(request, userId, 'remember', undefined)
  login.remembered = true
  const { result, cookie } = registry.rotate(token, login, presented.expiresAt)
  const rotation = await result
  if (rotation.status === 'unknown') return reject(context, request, reply, 'revoked')
  if (rotation.status === 'theft') {
    request.log.warn({ login: context.options.key, userId }, 'fastify-login: a copied remember cookie was used; its login is revoked')
    context.manager.emit('rememberTheft', request, userId)
    return reject(context, request, reply, 'theft')
  }
  const { series } = rotation
  // The new cookie goes out before anything else can fail: a rotation whose cookie
  // never reached the browser would make its next restore look like a theft.
  const refresh = context.options.remember!.refresh
  const expiresAt = refresh ? Date.now() + series.lifetime : series.expiresAt
  // Within the grace window: the current cookie, when the browser holds the one before it.
  const current = rotation.status === 'rotated' ? cookie : registry.healed(series, token.validator)
  if (current !== null) setRememberCookie(context, reply, current, expiresAt)
  const loginId = rotation.status === 'rotated' ? login.id : series.loginId
  if (refresh && rotation.status === 'rotated') await registry.extend(series.selector, expiresAt)
  await restore(context, request, user, userId, version, series.lifetime, loginId)
  restored(context, request, reply, user, userId)
  return true
}

/** A request whose response cannot carry cookies: an upgrade (WebSocket) answered with 101. */
function cannotSetCookies (request: FastifyRequest): boolean {
  return request.headers.upgrade !== undefined
}

/**
 * The user a remember cookie names, when it may be restored: found (without asking
 * the loader again for a stale session's user) and active. Else the cookie is
 * rejected and the answer is false.
 */
async function rememberedUser (
  context: LoginContext, request: FastifyRequest, reply: FastifyReply, id: string, stale: Stale | undefined
): Promise<LoginUser | false> {
  const user = stale === undefined ? toUser(await context.options.loadUser(id, request), 'loadUser') : stale.user
  if (user === null) return reject(context, request, reply, 'unknown-user')
  if (!context.options.isActive(user)) return reject(context, request, reply, 'inactive')
  return user
}

/** A restore is a login, not fresh; the cookie is not checked again while the session lasts. */
async function restore (
  context: LoginContext, request: FastifyRequest, user: LoginUser, id: string, version: string, lifetime: number, loginId: string | undefined
): Promise<void> {
  const session = context.sessions.of(request)
  if (session !== undefined) {
    await startLogin(context, request, session, newState(context, request, id, { version, stale: true, remember: lifetime, loginId }))
  }
  setUser(request, user, 'remember', loginId)
}

function restored (context: LoginContext, request: FastifyRequest, reply: FastifyReply, user: LoginUser, id: string): void {
  noStore(reply)
  request.log.debug({ login: context.options.key, userId: id }, 'fastify-login: restored from the remember cookie')
  context.manager.emit('loadedFromRemember', request, user)
}

function reject (context: LoginContext, request: FastifyRequest, reply: FastifyReply, reason: RememberRejectReason): false {
  clearRememberCookie(context, reply)
  request.log.debug({ login: context.options.key, reason }, 'fastify-login: remember cookie rejected')
  context.manager.emit('rememberRejected', request, reason)
  return false
}

/** The router settings that decide which spellings of a path reach the same route. */
export interface RouterMatching {
  ignoreTrailingSlash: boolean
  ignoreDuplicateSlashes: boolean
  caseSensitive: boolean
  useSemicolonDelimiter: boolean
}

/**
 * Matches request URLs under the excluded prefixes, on whole path segments, as the
 * router sees the path: percent-decoded the way find-my-way decodes it (an encoded
 * `/` stays one character of a segment), and with the app's trailing-slash,
 * duplicate-slash and case settings.
 */
function createExcludeMatcher (prefixes: string[], router: RouterMatching): ((url: string) => boolean) | undefined {
  if (prefixes.length === 0) return undefined
  if (prefixes.includes('/')) return () => true
  const wanted = router.caseSensitive ? prefixes : prefixes.map((prefix) => prefix.toLowerCase())
  const withSlash = wanted.map((prefix) => prefix + '/')
  return (url) => {
    const path = routerPath(url, router)
    if (path === undefined) return false
    for (let i = 0; i < wanted.length; i++) {
      if (path === wanted[i] || path.startsWith(withSlash[i]!)) return true
    }
    return false
  }
}

/** The path the router matches for `url`; undefined when it cannot be decoded (the router refuses it too). */
function routerPath (url: string, router: RouterMatching): string | undefined {
  const end = router.useSemicolonDelimiter ? url.search(/[?;#]/) : url.search(/[?#]/)
  let path = end === -1 ? url : url.slice(0, end)
  if (path.includes('%')) {
    try {
      // decodeURI leaves the escapes of reserved characters (%2F, %3F...) alone, as the router does.
      path = decodeURI(path)
    } catch {
      return undefined
    }
  }
  if (router.ignoreDuplicateSlashes) path = path.replace(/\/{2,}/g, '/')
  if (router.ignoreTrailingSlash && path.length > 1 && path.endsWith('/')) path = path.slice(0, -1)
  return router.caseSensitive ? path : path.toLowerCase()
}
