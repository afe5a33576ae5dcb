import type { FastifyRequest } from 'fastify'
import type { Registration } from './registration'
import { decodeState, type LoginState } from './state'
import type { AuthenticatedBy, LoginEndReason, LoginUser } from './types'

/**
 * Who the request is: `request.user` and `authenticatedBy`, and the per-request
 * flags most requests never have. The flags live on the request itself (never in
 * the session) and only when set: a decorator with a value would cost every
 * request an extra property store.
 */

/** A 'basic' session-protection hit: this request is not fresh. */
export const kSeenElsewhere = Symbol('fastify-login.seenElsewhere')
/** The login registry's id of this request's login (`request.loginId`). */
export const kLoginId = Symbol('fastify-login.loginId')
/** The staff user while impersonating (`request.impersonator`). */
export const kImpersonator = Symbol('fastify-login.impersonator')
/** Why this browser's login just ended (`request.loginEndReason`). */
export const kEndReason = Symbol('fastify-login.endReason')

declare module 'fastify' {
  interface FastifyRequest {
    [kSeenElsewhere]?: boolean
    [kLoginId]?: string | null
    [kImpersonator]?: LoginUser | null
    [kEndReason]?: Exclude<LoginEndReason, 'logout'>
  }
}

/** Sets who the request is; `loginId` only with the login registry (null when a registry login ends). */
export function setUser (request: FastifyRequest, user: LoginUser | null, by: AuthenticatedBy | null, loginId?: string | null): void {
  request.user = user
  request.authenticatedBy = by
  if (loginId !== undefined) request[kLoginId] = loginId
}

/**
 * Is the request's login fresh? Proven by the credentials (or `confirmLogin`) in
 * this session, and, with `freshFor`, not longer ago than that; never after a
 * remember-me restore, on a request a `basic` protection check finds on another
 * client, or for a `loadUserFromRequest` user (who has no login in the session).
 */
export function isFresh (registration: Registration, request: FastifyRequest, freshFor: number | undefined): boolean {
  if (request.user === null || request.authenticatedBy === 'request') return false
  const state = decodeState(registration.sessions.of(request)?.[registration.keys.state])
  if (state?.freshAt === undefined) return false
  if (freshFor !== undefined && Date.now() - state.freshAt > freshFor) return false
  return !seenElsewhere(registration, request, state)
}

/**
 * 'basic' session protection: is this request's client another than the login's?
 * Asked only where it matters, when freshness is (a digest costs as much as the rest
 * of a session lookup, and most requests never ask), once per request; the answer
 * and the `sessionProtected` event come with the first question.
 */
function seenElsewhere (registration: Registration, request: FastifyRequest, state: LoginState): boolean {
  let seen = request[kSeenElsewhere]
  if (seen === undefined) {
    seen = registration.options.protection?.mode === 'basic' && state.fingerprint !== registration.fingerprintOf(request)
    request[kSeenElsewhere] = seen
    if (seen) registration.report.protected(request, state.userId, 'basic')
  }
  return seen
}
