import type { FastifyReply, FastifyRequest } from 'fastify'
import type { EndedLogin, LoginEndReason, LoginRecord, LoginStore } from './registry/stores/types'

export type { LoginEndReason }

/**
 * The application's user. Empty here: applications describe their own user
 * with declaration merging, and `request.user` follows it everywhere.
 *
 * ```ts
 * declare module 'fastify-login' {
 *   interface LoginUser { id: number; username: string }
 * }
 * ```
 */
export interface LoginUser {}

/**
 * A user where one goes in: an object. Until an app describes `LoginUser`, `{}`
 * alone would also accept `'bob'` or `0`, which the plugin refuses at run time.
 */
export type UserObject = LoginUser & object

/** How the current request's user was found. */
export type AuthenticatedBy = 'session' | 'remember' | 'request'

/** A value or a promise of it: loaders may be sync or async. */
export type Awaitable<T> = T | Promise<T>

export type ProtectionMode = 'basic' | 'strong'

/** What the session-protection fingerprint covers, when not the default (`request.ip` and User-Agent). */
export interface CustomProtection {
  mode: ProtectionMode
  /** A string that identifies the client; it is digested, never stored as is. Synchronous. */
  fingerprint: (request: FastifyRequest) => string
}

export type SessionProtection = ProtectionMode | false | CustomProtection

export type SameSite = 'lax' | 'strict' | 'none'

export interface RememberOptions {
  /** At least 32 characters, or a list of them: the first signs, all verify. */
  secret: string | readonly string[]
  /** Cookie name. Default `'remember_token'`. */
  cookieName?: string
  /** Lifetime in milliseconds, enforced by the server. Default 30 days. */
  maxAge?: number
  /** Default `'/'`. */
  path?: string
  domain?: string
  /** `'auto'` sets `Secure` on HTTPS requests. Default `'auto'`. */
  secure?: boolean | 'auto'
  /** Default `true`. */
  httpOnly?: boolean
  /** Default `'lax'`. */
  sameSite?: SameSite
  /** Extend an existing, valid remember cookie on each authenticated response. Default `false`. */
  refresh?: boolean
}

/** The login registry: every login gets an id and a record in `store`. */
export interface LoginsOptions {
  /** Default: a memory store (one process). */
  store?: LoginStore
  /** How long after a remember-me rotation the previous validator is still accepted. Default 5000 ms. */
  graceMs?: number
  /** At most this many logins per user. Default 100, at most 1000. */
  maxPerUser?: number
  /** At the cap: end the least recently seen login (`'evict-oldest'`, default) or refuse the new one (`'reject'`: 403 `FST_LOGIN_LIMIT`). */
  onLimit?: 'evict-oldest' | 'reject'
  /** Keep ended logins listable (`listLogins(id, { ended: true })`) this long, in ms. Default 0: none. */
  keepEndedFor?: number
  /** A short label of the client ("Firefox on Windows"), stored as `device` on the login's record. Synchronous. */
  describeDevice?: (request: FastifyRequest) => string | undefined
}

/** Replaces a guard's default response. May send the reply or throw. */
export type GuardHandler = (request: FastifyRequest, reply: FastifyReply) => unknown

export interface FastifyLoginOptions {
  /** Returns the user for a stored id (always a string), or null/undefined. */
  loadUser: (id: string, request: FastifyRequest) => Awaitable<UserObject | null | undefined>
  /** The id stored in the session and the remember cookie. Default `user.id`. Synchronous. */
  getUserId?: (user: LoginUser) => string | number
  /** Inactive users cannot log in. Default `user.isActive !== false`. Synchronous. */
  isActive?: (user: LoginUser) => boolean
  /** A value that changes when the user's credentials change; logins made under another value end. Synchronous. */
  authVersion?: (user: LoginUser) => string | number
  /** Per-request login for API clients (bearer tokens, API keys). Never writes the session. */
  loadUserFromRequest?: (request: FastifyRequest) => Awaitable<UserObject | null | undefined>
  /** Names this login, so one app can have several (customers, staff) in sibling scopes. Default `'login'`. */
  key?: string
  /** Where unauthenticated browser requests are redirected. Without it they get 401. */
  loginUrl?: string
  /** Where a stale login is sent by `freshLoginRequired`. Default `loginUrl`. */
  refreshUrl?: string
  /** Query parameter carrying the return address. Default `'next'`. */
  nextParam?: string
  /** Keep the return address in the session instead of the query string. Default `false`. */
  nextInSession?: boolean
  /** Origins (`https://app.example.com`) `redirectAfterLogin` may send to besides same-site paths. */
  allowedRedirectOrigins?: readonly string[]
  /** Flashed (category `'info'`) before a redirect to `loginUrl`; needs `@fastify/flash`. */
  loginMessage?: string
  /** Flashed (category `'info'`) before a redirect to `refreshUrl`; needs `@fastify/flash`. */
  refreshMessage?: string
  /** Flashed (category `'info'`) by the guards' redirect when `request.loginEndReason` is set; needs `@fastify/flash`. */
  loginEndedMessage?: string | ((reason: Exclude<LoginEndReason, 'logout'>, request: FastifyRequest) => string)
  /** Default `'basic'`. */
  sessionProtection?: SessionProtection
  /** Remember-me cookie; omitted means off. */
  remember?: RememberOptions
  /** Session keys that survive the session id change at login. */
  keepSessionKeys?: readonly string[]
  /** Path prefixes (whole segments) of routes where no user is loaded. */
  exclude?: readonly string[]
  /** Methods the guards do not refuse. Default `['OPTIONS']` (a CORS preflight only, answered without the handler). */
  exemptMethods?: readonly string[]
  onUnauthorized?: GuardHandler
  onNeedsRefresh?: GuardHandler
  /** The login registry: `true` (memory store) or its options. Default off. */
  logins?: boolean | LoginsOptions
  /** ms. A login not used for that long ends on its next request (reason `'idle'`). */
  idleTimeout?: number
  /** ms. A session login older than that ends on its next request (reason `'absolute'`). */
  absoluteTimeout?: number
  /** ms. A login is fresh only that long after the credentials or `confirmLogin`. */
  freshFor?: number
  /** Who may act as whom (`reply.impersonate`). May be async. */
  canImpersonate?: (impersonator: LoginUser, target: LoginUser, request: FastifyRequest) => Awaitable<boolean>
}

export interface LoginOptions {
  /** Set a remember-me cookie. Default `false` (and an existing one is cleared). */
  remember?: boolean
  /** Lifetime of this login's remember cookie in ms; overrides `remember.maxAge`. */
  maxAge?: number
  /** Default `true`. */
  fresh?: boolean
  /** Log in even when `isActive(user)` is false. Default `false`. */
  force?: boolean
}

export interface LogoutOptions {
  /** Also end every other login of the user (needs the login registry). Default `false`. */
  everywhere?: boolean
}

export interface ImpersonateOptions {
  /** How long the impersonation lasts at most, in ms. Default one hour. */
  maxAge?: number
}

/**
 * A guard of its own (`loginGuard(options)`). `freshFor` goes with `fresh: true`
 * only: on a guard that does not ask for a fresh login it would change nothing,
 * and the route would look protected by a freshness window it does not have.
 */
export type LoginGuardOptions = {
  /** The login (or refresh) page for this guard. */
  loginUrl?: string
  /** Replaces the default unauthorized (or needs-refresh) response. */
  onUnauthorized?: GuardHandler
  /**
   * `false`: never answer, only fail with the 401 error (no redirect, no handler),
   * so that `@fastify/auth` decides between strategies. Default `true`.
   */
  respond?: boolean
} & ({
  /** Also require a fresh login. Default `false`. */
  fresh?: false
  freshFor?: undefined
} | {
  /** Also require a fresh login. */
  fresh: true
  /** Fresh means within this many ms of the credentials or `confirmLogin`. Default: the `freshFor` option. */
  freshFor?: number
})

export type GuardDone = (error?: Error) => void

/**
 * A `preHandler` hook: use it as `{ preHandler: loginRequired }`. Called by hand
 * without `done`, it returns a promise that rejects with the 401 error, or
 * resolves (once a refusal's response is sent, or when the request may pass).
 */
export interface LoginGuard {
  (request: FastifyRequest, reply: FastifyReply, done: GuardDone): void
  (request: FastifyRequest, reply: FastifyReply): Promise<void>
}

export type RememberRejectReason =
  | 'malformed'
  | 'signature'
  | 'expired'
  | 'version'
  | 'unknown-user'
  | 'inactive'
  /** `refresh` found a valid cookie of another user than the session's. */
  | 'other-user'
  /** Login registry: the cookie's series was revoked or has expired. */
  | 'revoked'
  /** Login registry: a copied cookie (see the `rememberTheft` event). */
  | 'theft'
  /** Login registry: a token already used once by a WebSocket restore, not yet rotated by a page. */
  | 'spent'

/** A login as `loginManager.listLogins()` shows it: its record, without the remember series that backs it. */
export type LoginInfo = Omit<LoginRecord, 'series'>

/** An ended login, as `listLogins(userId, { ended: true })` shows it. */
export type EndedLoginInfo = Omit<EndedLogin, 'series'>

export interface ListLoginsOptions {
  /** At most this many, most recently seen (or ended) first. Default 100. */
  limit?: number
  /** `true`: the ended logins kept by `logins.keepEndedFor`, instead of the standing ones. */
  ended?: boolean
}

export interface RevokeOptions {
  /** A login id to keep (usually `request.loginId`: "log out my other devices"). */
  except?: string | null
}
