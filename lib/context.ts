import { EventEmitter } from 'node:events'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ResolvedOptions } from './options'
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

/** Marks a response that changes the login: no shared cache may keep it. */
export function noStore (reply: FastifyReply): void {
  reply.header('cache-control', 'no-store')
  const vary = reply.getHeader('vary')
  if (vary === undefined) {
    reply.header('vary', 'Cookie')
  } else if (!/(^|,)\s*(cookie|\*)\s*(,|$)/i.test(String(vary))) {
    reply.header('vary', `${String(vary)}, Cookie`)
  }
}

export function setUser (request: FastifyRequest, user: LoginUser | null, by: AuthenticatedBy | null): void {
  request.user = user
  request.authenticatedBy = by
}
