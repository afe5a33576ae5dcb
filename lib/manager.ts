import { EventEmitter } from 'node:events'
import type { FastifyRequest } from 'fastify'
import { LoginError } from './errors'
import type { ResolvedOptions } from './options'
import { withQueryParam } from './redirect'
import type { Registry } from './registry'
import type { LoginInfo, LoginUser, ProtectionMode, RememberRejectReason, RevokeOptions } from './types'

export interface LoginEvents {
  login: [request: FastifyRequest, user: LoginUser]
  logout: [request: FastifyRequest, user: LoginUser]
  loginConfirmed: [request: FastifyRequest, user: LoginUser]
  loadedFromRemember: [request: FastifyRequest, user: LoginUser]
  loadedFromRequest: [request: FastifyRequest, user: LoginUser]
  rememberRejected: [request: FastifyRequest, reason: RememberRejectReason]
  unauthorized: [request: FastifyRequest]
  needsRefresh: [request: FastifyRequest]
  sessionProtected: [request: FastifyRequest, mode: ProtectionMode]
  /** Login registry: a copied remember cookie was used; its login has been revoked. */
  rememberTheft: [request: FastifyRequest, userId: string]
}

/**
 * `fastify.loginManager`: one registration's events, its login address builder and,
 * with the login registry, the logins of a user.
 */
export class LoginManager extends EventEmitter<LoginEvents> {
  /** The registration's `key`. */
  readonly key: string
  readonly #loginUrl: string | undefined
  readonly #nextParam: string
  readonly #registry: Registry | undefined

  constructor (options: ResolvedOptions, registry: Registry | undefined) {
    super()
    this.key = options.key
    this.#loginUrl = options.loginUrl
    this.#nextParam = options.nextParam
    this.#registry = registry
  }

  /**
   * The login page address, with `next` (percent-encoded) merged into its query.
   * Throws when no `loginUrl` is configured.
   */
  loginUrl (next?: string): string {
    if (this.#loginUrl === undefined) throw new LoginError('loginUrl is not configured')
    return next === undefined ? this.#loginUrl : withQueryParam(this.#loginUrl, this.#nextParam, next)
  }

  /** Login registry: the logins of the user that still stand, oldest first. */
  async listLogins (userId: string | number): Promise<LoginInfo[]> {
    return this.#need('listLogins').list(String(userId))
  }

  /** Login registry: ends one login of the user (its session and its remember cookie, on every instance). */
  async revokeLogin (userId: string | number, loginId: string): Promise<void> {
    await this.#need('revokeLogin').revoke(String(userId), [loginId])
  }

  /** Login registry: ends every login of the user, but `except`. Resolves the number of logins ended. */
  async revokeLogins (userId: string | number, options: RevokeOptions = {}): Promise<number> {
    return this.#need('revokeLogins').revokeAll(String(userId), options.except ?? null)
  }

  #need (method: string): Registry {
    if (this.#registry === undefined) throw new LoginError(`loginManager.${method}() needs the login registry: set the logins option`)
    return this.#registry
  }
}
