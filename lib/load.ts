import type { FastifyReply, FastifyRequest } from 'fastify'
import { kSeenElsewhere, noStore, setUser, toUser, type LoginContext } from './context'
import { clearRememberCookie, rememberCookie, rememberValue, setRememberCookie } from './cookie'
import { isPromise } from './options'
import { fingerprint } from './protection'
import {
  FINGERPRINT, VERSION,
  removeLogin, sessionOf, startLogin, storedUserId, versionOf, type LoginSession
} from './session'
import type { LoginUser, RememberRejectReason } from './types'

/** What the session said: a user was set, or the login ended (protection), or it was stale. */
const DONE = Symbol('done')
type Stale = { id: string, user: LoginUser | null }
type SessionOutcome = typeof DONE | Stale
type Done = (error?: Error) => void

/**
 * Builds the `onRequest` hook that sets `request.user`: from the session, else from
 * the remember cookie, else from `loadUserFromRequest`. Callback style, so that a
 * request with no login costs a property read or two and no promise, and a session
 * login with a sync loader none either.
 */
export function createLoadHook (context: LoginContext, router: RouterMatching) {
  const { options } = context
  const excluded = createExcludeMatcher(options.exclude, router)

  return function loadLoginUser (request: FastifyRequest, reply: FastifyReply, done: Done): void {
    if (excluded !== undefined && excluded(request.url)) return done()
    const session = sessionOf(request)
    const id = storedUserId(session)
    if (id === undefined) {
      if (options.loadUserFromRequest === undefined &&
        (context.codec === undefined || rememberCookie(context, request) === undefined)) {
        return done()
      }
      afterSession(context, request, reply, undefined).then(() => done(), done)
      return
    }

    let loaded: ReturnType<typeof options.loadUser>
    try {
      loaded = options.loadUser(id, request)
    } catch (error) {
      return done(error as Error)
    }
    if (isPromise(loaded)) {
      loaded.then((user) => finishSession(context, request, reply, session as LoginSession, id, user, done), done)
    } else {
      finishSession(context, request, reply, session as LoginSession, id, loaded, done)
    }
  }
}

function finishSession (
  context: LoginContext, request: FastifyRequest, reply: FastifyReply, session: LoginSession, id: string,
  loaded: LoginUser | null | undefined, done: Done
): void {
  let outcome: SessionOutcome
  try {
    outcome = fromSession(context, request, reply, session, id, loaded)
  } catch (error) {
    return done(error as Error)
  }
  if (outcome === DONE) return done()
  afterSession(context, request, reply, outcome).then(() => done(), done)
}

/** No session login stands: try the remember cookie, then `loadUserFromRequest`. */
async function afterSession (context: LoginContext, request: FastifyRequest, reply: FastifyReply, stale: Stale | undefined): Promise<void> {
  if (context.codec !== undefined) {
    const cookie = rememberCookie(context, request)
    if (cookie !== undefined && await fromRemember(context, request, reply, cookie, stale)) return
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

/** Checks the session's login against the loaded user; sets `request.user` when it stands. */
function fromSession (
  context: LoginContext, request: FastifyRequest, reply: FastifyReply, session: LoginSession, id: string,
  loaded: LoginUser | null | undefined
): SessionOutcome {
  const { options } = context
  const user = toUser(loaded, 'loadUser')
  if (user === null || (options.authVersion !== undefined && session[VERSION] !== versionOf(context, user))) {
    // The user is gone or its credentials changed: drop the stale login so the loader is not asked again.
    removeLogin(session)
    return { id, user }
  }

  if (options.sessionProtection !== false && session[FINGERPRINT] !== fingerprint(request)) {
    context.manager.emit('sessionProtected', request, options.sessionProtection)
    if (options.sessionProtection === 'strong') {
      removeLogin(session)
      // Also when this request did not carry it: it may be scoped to another path.
      clearRememberCookie(context, reply)
      // The session cookie is sent again: no shared cache may keep this response.
      noStore(reply)
      return DONE
    }
    // 'basic': this request is not fresh. Nothing is written: a request that only
    // reads a login must not save the session (it could outlive a logout).
    request[kSeenElsewhere] = true
  }

  setUser(request, user, 'session')
  if (options.remember?.refresh === true) {
    const cookie = rememberCookie(context, request)
    if (cookie !== undefined) refreshRemember(context, request, reply, cookie, id, user)
  }
  return DONE
}

/**
 * `refresh`: extends the request's remember cookie only when it is a valid one of
 * this same user, unexpired and of the current auth version. Anything else under
 * its name is rejected: a stolen session cookie must not become a remember cookie.
 */
function refreshRemember (context: LoginContext, request: FastifyRequest, reply: FastifyReply, cookie: string, id: string, user: LoginUser): void {
  const decoded = context.codec!.decode(cookie, Date.now())
  if (!decoded.ok) {
    reject(context, request, reply, decoded.reason)
    return
  }
  const { payload } = decoded
  if (payload.id !== id) {
    reject(context, request, reply, 'other-user')
    return
  }
  const version = versionOf(context, user)
  if (payload.version !== version) {
    reject(context, request, reply, 'version')
    return
  }
  const expires = Date.now() + payload.lifetime
  setRememberCookie(context, reply, rememberValue(context, id, expires, payload.lifetime, version), expires)
}

/**
 * Logs the request in from its remember cookie. `stale` is the login the session
 * held but no longer stands (its user was loaded already): the cookie may only
 * restore that same user, without asking the loader a second time.
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
  const user = stale === undefined ? toUser(await options.loadUser(id, request), 'loadUser') : stale.user
  if (user === null) return reject(context, request, reply, 'unknown-user')
  if (!options.isActive(user)) return reject(context, request, reply, 'inactive')
  const currentVersion = versionOf(context, user)
  if (version !== currentVersion) return reject(context, request, reply, 'version')

  const session = sessionOf(request)
  if (session !== undefined) {
    // A restore is a login, not fresh; the cookie is not checked again while the session lasts.
    await startLogin(context, request, session, { id, version: currentVersion, stale: true, lifetime })
  }
  setUser(request, user, 'remember')
  const refresh = options.remember!.refresh
  if (renew || refresh) {
    const until = refresh ? Date.now() + lifetime : expires
    setRememberCookie(context, reply, rememberValue(context, id, until, lifetime, currentVersion), until)
  }
  noStore(reply)
  context.manager.emit('loadedFromRemember', request, user)
  return true
}

function reject (context: LoginContext, request: FastifyRequest, reply: FastifyReply, reason: RememberRejectReason): false {
  clearRememberCookie(context, reply)
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
