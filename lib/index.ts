/*
 * fastify-login: user session management for Fastify. The modules, in the order a
 * request meets them:
 *
 *   plugin.ts          wiring only: registration checks, decorators, hooks
 *   options.ts         options in, ResolvedOptions out (option-checks.ts, remember/options.ts, registry/options.ts)
 *   callbacks.ts       the app's callbacks (loadUser, getUserId, ...) wrapped to fail closed
 *   registration.ts    what one registration's hooks, reply methods and guards share
 *   routes.ts          what a registration learns of its routes: `exclude`, WebSocket routes
 *   request.ts         onRequest: the session's login, else remember-me, else loadUserFromRequest
 *   session-check.ts   does the session's login still stand: timeouts, registry, user, protection
 *   login-end.ts       the one way a login found in the session ends, reported with its reason
 *   state.ts           the login state kept in a session: one versioned codec, keys owned per registration
 *   sessions.ts        @fastify/session and @fastify/secure-session behind one interface
 *   session-login.ts   writing a login into a new session: every login starts here
 *   login.ts           the write path: loginUser, logoutUser, confirmLogin
 *   impersonation.ts   support staff acting as a user
 *   remember/          remember-me behind one interface: the sealed cookie, the registry's token (its codec and rules), the steps both take to restore, the cookie itself
 *   registry/          the login registry: records, caps, the hot-path cache, and its stores (memory, Redis)
 *   protection.ts      the session-protection fingerprint (digest.ts: the hashes)
 *   guards.ts          the guards; next.ts the return address; redirect.ts what is a safe one
 *   responses.ts       what a response that changes a login carries, and that the change finished first
 *   request-user.ts    who the request is, and its per-request flags
 *   events.ts          events, diagnostics channels and debug logs, one place; manager.ts fastify.loginManager
 *   errors.ts          codes and classes; types.ts the public option, user and record types
 *   test-login.ts      the in-process login behind fastify-login/testing (testing.ts)
 */
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import {
  CallbackError, FreshLoginRequiredError, ImpersonationError, LimitError, LoginError, LoginRequiredError, OptionError, SetupError, StoreError
} from './errors'
import type { ImpersonationEndReason, LoginChannelMessage, LoginEnd, LoginEvents } from './events'
import { freshLoginRequired, loginGuard, loginRequired } from './guards'
import { LoginManager } from './manager'
import { setup } from './plugin'
import { isSafeRedirect } from './redirect'
import { MemoryLoginStore } from './registry/stores/memory'
import { RedisLoginStore, type RedisClientLike, type RedisClusterLike, type RedisLoginStoreOptions } from './registry/stores/redis'
import type {
  CreateOptions, CreateResult, EndedLogin, EndOptions, EndWhich, LoginLookup, LoginMethod, LoginRecord, LoginStore,
  RememberSeries, SeriesUpdate, SeriesUpdateResult, StoreWatcher
} from './registry/stores/types'
import type {
  AuthenticatedBy, Awaitable, CustomProtection, EndedLoginInfo, FastifyLoginOptions, GuardDone, GuardHandler, ImpersonateOptions,
  ListLoginsOptions, LoginEndReason, LoginGuard, LoginGuardOptions, LoginInfo, LoginOptions, LoginsOptions, LoginUser, LogoutOptions,
  ProtectionMode, RememberOptions, RememberRejectReason, RevokeOptions, SameSite, SessionProtection, UserObject
} from './types'

declare module 'fastify' {
  interface FastifyRequest {
    /** The logged-in user, or null. Set once per request by fastify-login. */
    user: LoginUser | null
    /** How this request's user was found, or null when anonymous. */
    authenticatedBy: AuthenticatedBy | null
    /** With the login registry: this login's id (as `listLogins` shows it), else null. */
    readonly loginId: string | null
    /** The staff user while impersonating (`reply.impersonate`), else null. */
    readonly impersonator: LoginUser | null
    /** On the first request after this browser's login ended elsewhere or by a timeout: why, else null. */
    readonly loginEndReason: Exclude<LoginEndReason, 'logout'> | null
    /** True when `request.user` is set; narrows `request.user` to `LoginUser`. */
    isAuthenticated (): this is FastifyRequest & { user: LoginUser, authenticatedBy: AuthenticatedBy }
    /** True when the user logged in with credentials in this session (or confirmed since), within `freshFor`. */
    isFresh (): boolean
    /** True for a login set with, or restored from, a valid remember cookie. */
    isRemembered (): boolean
    /** The logged-in user; throws the 401 `FST_LOGIN_REQUIRED` error when there is none. For guarded routes. */
    requireUser (): LoginUser
  }

  interface FastifyReply {
    /** Logs the user in. Resolves false for an inactive user. Await it. */
    loginUser (user: UserObject, options?: LoginOptions): Promise<boolean>
    /** Ends the login. Writes nothing when nobody is logged in. Await it. */
    logoutUser (options?: LogoutOptions): Promise<void>
    /** Marks the login fresh again (after re-entering the password) and changes the session id. Await it. */
    confirmLogin (): Promise<void>
    /** Redirects to a safe `next` from the query, the body or the session, else to `fallback` (default '/'). */
    redirectAfterLogin (fallback?: string): FastifyReply
    /** Acts as `target` (support staff), allowed by `canImpersonate`, for at most `maxAge`. Await it. */
    impersonate (target: UserObject, options?: ImpersonateOptions): Promise<void>
    /** Back to the staff login. A no-op when not impersonating. Await it. */
    stopImpersonating (): Promise<void>
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
module.exports.loginRequired = loginRequired
module.exports.freshLoginRequired = freshLoginRequired
module.exports.loginGuard = loginGuard
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
module.exports.ImpersonationError = ImpersonationError
module.exports.LimitError = LimitError

declare namespace fastifyLogin {
  export {
    fastifyLogin as default,
    fastifyLogin,
    loginRequired,
    freshLoginRequired,
    loginGuard,
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
    ImpersonationError,
    LimitError,
    AuthenticatedBy,
    Awaitable,
    CreateOptions,
    CreateResult,
    CustomProtection,
    EndedLogin,
    EndedLoginInfo,
    EndOptions,
    EndWhich,
    FastifyLoginOptions,
    GuardDone,
    GuardHandler,
    ImpersonateOptions,
    ImpersonationEndReason,
    ListLoginsOptions,
    LoginChannelMessage,
    LoginEnd,
    LoginEndReason,
    LoginEvents,
    LoginGuard,
    LoginGuardOptions,
    LoginInfo,
    LoginLookup,
    LoginMethod,
    LoginOptions,
    LoginRecord,
    LoginsOptions,
    LoginStore,
    LoginUser,
    LogoutOptions,
    ProtectionMode,
    RedisClientLike,
    RedisClusterLike,
    RedisLoginStoreOptions,
    RememberOptions,
    RememberRejectReason,
    RememberSeries,
    RevokeOptions,
    SameSite,
    SeriesUpdate,
    SeriesUpdateResult,
    SessionProtection,
    StoreWatcher,
    UserObject
  }
}

export = fastifyLogin
