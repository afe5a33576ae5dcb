import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import {
  CallbackError, FreshLoginRequiredError, LoginError, LoginRequiredError, OptionError, SetupError, StoreError
} from './errors'
import { LoginManager, type LoginEvents } from './manager'
import { setup } from './plugin'
import { isSafeRedirect } from './redirect'
import { MemoryLoginStore } from './stores/memory'
import { RedisLoginStore, type RedisLoginStoreOptions } from './stores/redis'
import type {
  LoginMethod, LoginRecord, LoginStore, RememberSeries, Rotation, RotateResult
} from './stores/types'
import type {
  AuthenticatedBy, Awaitable, CustomProtection, FastifyLoginOptions, GuardDone, GuardHandler, LoginGuard,
  LoginGuardOptions, LoginInfo, LoginOptions, LoginsOptions, LoginUser, LogoutOptions, ProtectionMode,
  RememberOptions, RememberRejectReason, RevokeOptions, SameSite, SessionProtection
} from './types'

declare module 'fastify' {
  interface FastifyRequest {
    /** The logged-in user, or null. Set once per request by fastify-login. */
    user: LoginUser | null
    /** How this request's user was found, or null when anonymous. */
    authenticatedBy: AuthenticatedBy | null
    /** With the login registry: this login's id (as `listLogins` shows it), else null. */
    readonly loginId: string | null
    /** True when `request.user` is set; narrows `request.user` to `LoginUser`. */
    isAuthenticated (): this is FastifyRequest & { user: LoginUser, authenticatedBy: AuthenticatedBy }
    /** True when the user logged in with credentials in this session, or confirmed since. */
    isFresh (): boolean
    /** True for a login set with, or restored from, a valid remember cookie. */
    isRemembered (): boolean
    /** The logged-in user; throws the 401 `FST_LOGIN_REQUIRED` error when there is none. For guarded routes. */
    requireUser (): LoginUser
  }

  interface FastifyReply {
    /** Logs the user in. Resolves false for an inactive user. */
    loginUser (user: LoginUser, options?: LoginOptions): Promise<boolean>
    /** Ends the login. Writes nothing when nobody is logged in. */
    logoutUser (options?: LogoutOptions): Promise<void>
    /** Marks the login fresh again (after re-entering the password) and changes the session id. */
    confirmLogin (): Promise<void>
    /** Redirects to a safe `next` from the query, the body or the session, else to `fallback` (default '/'). */
    redirectAfterLogin (fallback?: string): FastifyReply
  }

  interface FastifyInstance {
    /** preHandler guard: anonymous requests get the unauthorized response. */
    loginRequired: LoginGuard
    /** preHandler guard: also requires a fresh login. */
    freshLoginRequired: LoginGuard
    /** Builds a guard with its own login page or response, or (`respond: false`) an @fastify/auth strategy. */
    loginGuard (options?: LoginGuardOptions): LoginGuard
    /** Events, the login address builder and, with the registry, the logins of a user. */
    loginManager: LoginManager
  }
}

/**
 * fastify-login: user session management for Fastify. Register it after
 * `@fastify/cookie` and `@fastify/session` (or `@fastify/secure-session`).
 */
async function fastifyLogin (fastify: FastifyInstance, options: FastifyLoginOptions): Promise<void> {
  setup(fastify, options)
}
fp(fastifyLogin, {
  fastify: '5.x',
  name: 'fastify-login',
  dependencies: ['@fastify/cookie']
})

// The CommonJS shape of the @fastify plugins: `require('fastify-login')` is the
// plugin, carrying `default`, `fastifyLogin` and the named exports. Written out
// one by one so that Node's ES module loader sees the names.
module.exports = fastifyLogin
module.exports.default = fastifyLogin
module.exports.fastifyLogin = fastifyLogin
module.exports.isSafeRedirect = isSafeRedirect
module.exports.LoginManager = LoginManager
module.exports.MemoryLoginStore = MemoryLoginStore
module.exports.RedisLoginStore = RedisLoginStore
module.exports.LoginRequiredError = LoginRequiredError
module.exports.FreshLoginRequiredError = FreshLoginRequiredError
module.exports.OptionError = OptionError
module.exports.SetupError = SetupError
module.exports.LoginError = LoginError
module.exports.CallbackError = CallbackError
module.exports.StoreError = StoreError

declare namespace fastifyLogin {
  export {
    fastifyLogin as default,
    fastifyLogin,
    isSafeRedirect,
    LoginManager,
    MemoryLoginStore,
    RedisLoginStore,
    LoginRequiredError,
    FreshLoginRequiredError,
    OptionError,
    SetupError,
    LoginError,
    CallbackError,
    StoreError,
    AuthenticatedBy,
    Awaitable,
    CustomProtection,
    FastifyLoginOptions,
    GuardDone,
    GuardHandler,
    LoginEvents,
    LoginGuard,
    LoginGuardOptions,
    LoginInfo,
    LoginMethod,
    LoginOptions,
    LoginRecord,
    LoginsOptions,
    LoginStore,
    LoginUser,
    LogoutOptions,
    ProtectionMode,
    RedisLoginStoreOptions,
    RememberOptions,
    RememberRejectReason,
    RememberSeries,
    RevokeOptions,
    Rotation,
    RotateResult,
    SameSite,
    SessionProtection
  }
}

export = fastifyLogin
