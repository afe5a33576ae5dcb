import { EventEmitter } from 'node:events'
import { LoginError } from './errors'
import type { LoginEvents } from './events'
import type { ResolvedOptions } from './options'
import { withQueryParam } from './redirect'
import type { LoginRegistry } from './registry/registry'
import type { EndedLoginInfo, ListLoginsOptions, LoginInfo, RevokeOptions } from './types'

/**
 * `fastify.loginManager`: one registration's events, its login address builder and,
 * with the login registry, the logins of a user.
 */
export class LoginManager extends EventEmitter<LoginEvents> {
  /** The registration's `key`. */
  readonly key: string
  readonly #loginUrl: string | undefined
  readonly #nextParam: string
  readonly #registry: () => LoginRegistry | undefined

  // Private, and `create` stripped from the declarations: only the plugin makes one,
  // so the published types name none of the options and registry internals it takes.
  private constructor (options: ResolvedOptions, registry: () => LoginRegistry | undefined) {
    super()
    this.key = options.key
    this.#loginUrl = options.loginUrl
    this.#nextParam = options.nextParam
    this.#registry = registry
  }

  /** @internal The registration's manager; the registry is read when a method needs it (it is made after the manager). */
  static create (options: ResolvedOptions, registry: () => LoginRegistry | undefined): LoginManager {
    return new LoginManager(options, registry)
  }

  /**
   * The login page address, with `next` (percent-encoded) merged into its query.
   * Throws when no `loginUrl` is configured.
   */
  loginUrl (next?: string): string {
    if (this.#loginUrl === undefined) throw new LoginError('loginUrl is not configured')
    return next === undefined ? this.#loginUrl : withQueryParam(this.#loginUrl, this.#nextParam, next)
  }

  /** Login registry: the user's logins that stand, most recently seen first (or, with `ended`, the ended ones kept). */
  listLogins (userId: string | number, options?: ListLoginsOptions & { ended?: false }): Promise<LoginInfo[]>
  listLogins (userId: string | number, options: ListLoginsOptions & { ended: true }): Promise<EndedLoginInfo[]>
  /** `ended` not known until run time (an option passed through): either list. */
  listLogins (userId: string | number, options: ListLoginsOptions): Promise<LoginInfo[] | EndedLoginInfo[]>
  async listLogins (userId: string | number, options: ListLoginsOptions = {}): Promise<LoginInfo[] | EndedLoginInfo[]> {
    const registry = this.#need('listLogins')
    // The app's mistake, said as such: the store would only fail on it (FST_LOGIN_STORE).
    if (options === null || typeof options !== 'object') throw new LoginError('listLogins options must be an object')
    const { limit, ended } = options
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
      throw new LoginError(`listLogins limit must be a whole number from 1, got ${String(limit)}`)
    }
    if (ended !== undefined && typeof ended !== 'boolean') throw new LoginError('listLogins ended must be a boolean')
    return registry.list(String(userId), options)
  }

  /** Login registry: ends one login of the user (its session and its remember cookie, on every instance). */
  async revokeLogin (userId: string | number, loginId: string): Promise<void> {
    await this.#need('revokeLogin').end(null, String(userId), [loginId], 'revoked')
  }

  /** Login registry: ends every login of the user, but `except`. Resolves the number of logins ended. */
  async revokeLogins (userId: string | number, options: RevokeOptions = {}): Promise<number> {
    return this.#need('revokeLogins').endAll(null, String(userId), options.except ?? null, 'revoked')
  }

  #need (method: string): LoginRegistry {
    const registry = this.#registry()
    if (registry === undefined) throw new LoginError(`loginManager.${method}() needs the login registry: set the logins option`)
    return registry
  }
}
