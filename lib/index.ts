import type { LoginManager } from './context'
import { plugin } from './plugin'
import type { AuthenticatedBy, LoginGuard, LoginGuardOptions, LoginOptions, LoginUser } from './types'

declare module 'fastify' {
  interface FastifyRequest {
    /** The logged-in user, or null. Set once per request by fastify-login. */
    user: LoginUser | null
    /** How this request's user was found, or null when anonymous. */
    authenticatedBy: AuthenticatedBy | null
    /** True when `request.user` is set; narrows `request.user` to `LoginUser`. */
    isAuthenticated (): this is FastifyRequest & { user: LoginUser, authenticatedBy: AuthenticatedBy }
    /** True when the user logged in with credentials in this session, or confirmed since. */
    isFresh (): boolean
  }

  interface FastifyReply {
    /** Logs the user in. Resolves false for an inactive user. */
    loginUser (user: LoginUser, options?: LoginOptions): Promise<boolean>
    /** Ends the login. Writes nothing when nobody is logged in. */
    logoutUser (): Promise<void>
    /** Marks the login fresh again (after re-entering the password) and changes the session id. */
    confirmLogin (): Promise<void>
    /** Redirects to a safe `next` from the query or body, else to `fallback` (default '/'). */
    redirectAfterLogin (fallback?: string): FastifyReply
  }

  interface FastifyInstance {
    /** preHandler guard: anonymous requests get the unauthorized response. */
    loginRequired: LoginGuard
    /** preHandler guard: also requires a fresh login. */
    freshLoginRequired: LoginGuard
    /** Builds a guard with its own login page or response. */
    loginGuard (options?: LoginGuardOptions): LoginGuard
    /** Events, and the login address builder. */
    loginManager: LoginManager
  }
}

export { plugin as fastifyLogin, plugin as default }
export { isSafeRedirect } from './redirect'
export { LoginRequiredError, FreshLoginRequiredError, OptionError, LoginError, CallbackError } from './errors'
export { LoginManager, type LoginEvents } from './context'
export type {
  AuthenticatedBy,
  Awaitable,
  FastifyLoginOptions,
  GuardDone,
  GuardHandler,
  LoginGuard,
  LoginGuardOptions,
  LoginOptions,
  LoginUser,
  RememberOptions,
  RememberRejectReason,
  SameSite,
  SessionProtection
} from './types'

// CommonJS: `require('fastify-login')` is the plugin itself, carrying the named exports
// (fastify-plugin already gives it `default` and `fastifyLogin`).
module.exports = Object.assign(plugin, module.exports)
