import type { FastifyReply, FastifyRequest } from 'fastify'
import { noStore, setUser, type LoginContext } from './context'
import { clearRememberCookie, rememberCookie, setRememberCookie } from './cookie'
import { fingerprint } from './protection'
import { versionDigest } from './remember'
import {
  FINGERPRINT, FRESH, ID, REMEMBER, VERSION,
  regenerate, removeLogin, sessionOf, storedUserId, type LoginSession
} from './session'
import type { LoginUser, RememberRejectReason } from './types'

/** Outcome of looking at the session: a user, nobody, or a login that session protection just ended. */
const ENDED = Symbol('ended')

/**
 * Builds the `onRequest` hook that sets `request.user`: from the session, else from
 * the remember cookie, else from `loadUserFromRequest`. A request without any of
 * them costs a property read or two and never touches the session.
 */
export function createLoadHook (context: LoginContext) {
  const { options } = context
  const excluded = createExcludeMatcher(options.exclude)

  return async function loadLoginUser (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (excluded !== undefined && excluded(request.url)) return

    const session = sessionOf(request)
    const id = storedUserId(session)
    if (id !== undefined) {
      const result = await fromSession(context, request, reply, session as LoginSession, id)
      if (result === ENDED || result === true) return
    }

    if (context.codec !== undefined) {
      const cookie = rememberCookie(context, request)
      if (cookie !== undefined && await fromRemember(context, request, reply, cookie)) return
    }

    if (options.loadUserFromRequest !== undefined) {
      const user = await options.loadUserFromRequest(request)
      if (user != null) {
        setUser(request, user, 'request')
        context.manager.emit('loadedFromRequest', request, user)
      }
    }
  }
}

async function fromSession (
  context: LoginContext, request: FastifyRequest, reply: FastifyReply, session: LoginSession, id: string
): Promise<boolean | typeof ENDED> {
  const { options } = context
  const user = await options.loadUser(id, request)
  if (user == null || (options.authVersion !== undefined && session[VERSION] !== versionDigest(options.authVersion(user)))) {
    // The user is gone or its credentials changed: drop the stale login so the loader is not asked again.
    removeLogin(session)
    return false
  }

  if (options.sessionProtection !== false && session[FINGERPRINT] !== fingerprint(request)) {
    context.manager.emit('sessionProtected', request, options.sessionProtection)
    if (options.sessionProtection === 'strong') {
      removeLogin(session)
      if (rememberCookie(context, request) !== undefined) clearRememberCookie(context, reply)
      return ENDED
    }
    if (session[FRESH] !== false) session[FRESH] = false
  }

  setUser(request, user, 'session')
  const remember = options.remember
  if (remember?.refresh === true && session[REMEMBER] === true && rememberCookie(context, request) !== undefined) {
    setRememberCookie(context, reply, id, Date.now() + remember.maxAge, versionOf(context, user))
  }
  return true
}

async function fromRemember (context: LoginContext, request: FastifyRequest, reply: FastifyReply, cookie: string): Promise<boolean> {
  const { options } = context
  const decoded = context.codec!.decode(cookie, Date.now())
  if (!decoded.ok) return reject(context, request, reply, decoded.reason)

  const { id, expires, version, renew } = decoded.payload
  const user = await options.loadUser(id, request)
  if (user == null) return reject(context, request, reply, 'unknown-user')
  if (!options.isActive(user)) return reject(context, request, reply, 'inactive')
  const currentVersion = versionOf(context, user)
  if (version !== currentVersion) return reject(context, request, reply, 'version')

  let session = sessionOf(request)
  if (session !== undefined) {
    // A restore is a login: new session id, and the cookie is not checked again while the session lasts.
    session = await regenerate(request, session, options.keepSessionKeys)
    session[ID] = id
    session[FRESH] = false
    if (options.sessionProtection !== false) session[FINGERPRINT] = fingerprint(request)
    if (options.authVersion !== undefined) session[VERSION] = currentVersion
    session[REMEMBER] = true
  }
  setUser(request, user, 'remember')
  if (renew || options.remember!.refresh) {
    setRememberCookie(context, reply, id, options.remember!.refresh ? Date.now() + options.remember!.maxAge : expires, currentVersion)
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

/** Digest of the user's auth version, '' without the option. */
export function versionOf (context: LoginContext, user: LoginUser): string {
  const authVersion = context.options.authVersion
  return authVersion === undefined ? '' : versionDigest(authVersion(user))
}

/** Matches request URLs under the excluded prefixes, on whole path segments. */
function createExcludeMatcher (prefixes: string[]): ((url: string) => boolean) | undefined {
  if (prefixes.length === 0) return undefined
  if (prefixes.includes('/')) return () => true
  const withSlash = prefixes.map((prefix) => prefix + '/')
  return (url) => {
    const query = url.indexOf('?')
    const path = query === -1 ? url : url.slice(0, query)
    for (let i = 0; i < prefixes.length; i++) {
      if (path === prefixes[i] || path.startsWith(withSlash[i]!)) return true
    }
    return false
  }
}
