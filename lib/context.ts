import { EventEmitter } from 'node:events'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ResolvedOptions } from './options'
import { callbackError } from './errors'
import { withQueryParam } from './redirect'
import { RememberCodec } from './remember'
import type { AuthenticatedBy, LoginUser, RememberRejectReason, SessionProtection } from './types'

export interface LoginEvents {
  login: [request: FastifyRequest, user: LoginUser]
  logout: [request: FastifyRequest, user: LoginUser]
  loginConfirmed: [request: FastifyRequest, user: LoginUser]
  loadedFromRemember: [request: FastifyRequest, user: LoginUser]
  loadedFromRequest: [request: FastifyRequest, user: LoginUser]
  rememberRejected: [request: FastifyRequest, reason: RememberRejectReason]
  unauthorized: [request: FastifyRequest]
  needsRefresh: [request: FastifyRequest]
  sessionProtected: [request: FastifyRequest, mode: Exclude<SessionProtection, false>]
}

/** `fastify.loginManager`: the plugin's events, and the login address builder. */
export class LoginManager extends EventEmitter<LoginEvents> {
  readonly #loginUrl: string | undefined
  readonly #nextParam: string

  constructor (loginUrl: string | undefined, nextParam: string) {
    super()
    this.#loginUrl = loginUrl
    this.#nextParam = nextParam
  }

  /**
   * The login page address, with `next` (percent-encoded) merged into its query.
   * Throws when no `loginUrl` is configured.
   */
  loginUrl (next?: string): string {
    if (this.#loginUrl === undefined) throw new Error('fastify-login: loginUrl is not configured')
    return buildLoginUrl(this.#loginUrl, this.#nextParam, next)
  }
}

export function buildLoginUrl (loginUrl: string, nextParam: string, next: string | undefined): string {
  return next === undefined ? loginUrl : withQueryParam(loginUrl, nextParam, next)
}

/** Everything the hook, the reply methods and the guards share, built once at registration. */
export interface LoginContext {
  options: ResolvedOptions
  manager: LoginManager
  codec: RememberCodec | undefined
}

export function createContext (options: ResolvedOptions): LoginContext {
  return {
    options,
    manager: new LoginManager(options.loginUrl, options.nextParam),
    codec: options.remember ? new RememberCodec(options.remember.secrets) : undefined
  }
}

/**
 * Set on a request whose client does not match the login's fingerprint under
 * 'basic' protection: that request is not fresh. Kept on the request, never
 * written to the session.
 */
export const kSeenElsewhere = Symbol('fastify-login.seenElsewhere')

declare module 'fastify' {
  interface FastifyRequest {
    [kSeenElsewhere]: boolean
  }
}

const kNoStore = Symbol('fastify-login.noStore')
type MarkedReply = FastifyReply & { [kNoStore]?: true }

/**
 * Marks a response that changes the login: no shared cache may keep it. The headers
 * are written in onSend (`applyNoStore`), after the route, so a route's own
 * Cache-Control cannot undo them.
 */
export function noStore (reply: FastifyReply): void {
  (reply as MarkedReply)[kNoStore] = true
}

/** onSend: `Cache-Control: no-store` and `Vary: Cookie` on the responses marked by `noStore`. */
export function applyNoStore (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: null, payload: unknown) => void): void {
  if ((reply as MarkedReply)[kNoStore] === true) {
    reply.header('cache-control', 'no-store')
    const vary = reply.getHeader('vary')
    if (vary === undefined) {
      reply.header('vary', 'Cookie')
    } else if (!/(^|,)\s*(cookie|\*)\s*(,|$)/i.test(String(vary))) {
      reply.header('vary', `${String(vary)}, Cookie`)
    }
  }
  done(null, payload)
}

/**
 * Only an object (or a function) is a user. A loader that answers `false`, `0` or
 * `''` found nobody: treating those as users would let them through the guards. An
 * array is nobody too (`[]` is what a query for a deleted user returns), and an
 * Error is not a user either.
 */
export function isUser (value: unknown): value is LoginUser {
  return value !== null && (typeof value === 'object' || typeof value === 'function') &&
    !Array.isArray(value) && !(value instanceof Error)
}

/** A loader's answer as a user or nobody; a returned Error is a failure of the loader, like a throw. */
export function toUser (answer: unknown, loader: string): LoginUser | null {
  if (answer instanceof Error) throw callbackError(loader, answer)
  return isUser(answer) ? answer : null
}

export function setUser (request: FastifyRequest, user: LoginUser | null, by: AuthenticatedBy | null): void {
  request.user = user
  request.authenticatedBy = by
}
