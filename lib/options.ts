import { callbackError, OptionError, wrongAnswer } from './errors'
import type {
  FastifyLoginOptions,
  GuardHandler,
  LoginGuardOptions,
  LoginUser,
  RememberOptions,
  SameSite,
  SessionProtection
} from './types'

export const DEFAULT_REMEMBER_MAX_AGE = 30 * 24 * 60 * 60 * 1000
/** Browsers keep no cookie longer than 400 days (RFC 6265bis). */
export const MAX_REMEMBER_MAX_AGE = 400 * 24 * 60 * 60 * 1000
const MIN_SECRET_LENGTH = 32
// What RFC 6265 allows in a cookie name (a token).
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

export interface ResolvedRemember {
  secrets: string[]
  cookieName: string
  maxAge: number
  path: string
  domain: string | undefined
  secure: boolean | 'auto'
  httpOnly: boolean
  sameSite: SameSite
  refresh: boolean
}

export interface ResolvedOptions {
  /** Errors come out as CallbackError; a sync answer stays sync. */
  loadUser: FastifyLoginOptions['loadUser']
  getUserId: (user: LoginUser) => string | number | null | undefined
  isActive: (user: LoginUser) => boolean
  authVersion: ((user: LoginUser) => string | number) | undefined
  loadUserFromRequest: FastifyLoginOptions['loadUserFromRequest']
  loginUrl: string | undefined
  refreshUrl: string | undefined
  nextParam: string
  sessionProtection: SessionProtection
  remember: ResolvedRemember | undefined
  keepSessionKeys: string[]
  exclude: string[]
  exemptMethods: Set<string>
  onUnauthorized: GuardHandler | undefined
  onNeedsRefresh: GuardHandler | undefined
}

const KNOWN_OPTIONS = new Set([
  'loadUser', 'getUserId', 'isActive', 'authVersion', 'loadUserFromRequest', 'loginUrl',
  'refreshUrl', 'nextParam', 'sessionProtection', 'remember', 'keepSessionKeys', 'exclude',
  'exemptMethods', 'onUnauthorized', 'onNeedsRefresh'
])
const KNOWN_REMEMBER_OPTIONS = new Set([
  'secret', 'cookieName', 'maxAge', 'path', 'domain', 'secure', 'httpOnly', 'sameSite', 'refresh'
])

function fail (message: string): never {
  throw new OptionError(message)
}

function optionalFunction<T> (value: T | undefined, name: string): T | undefined {
  if (value !== undefined && typeof value !== 'function') fail(`${name} must be a function`)
  return value
}

function optionalString (value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value.length === 0) fail(`${name} must be a non-empty string`)
  return value
}

function stringList (value: unknown, name: string, fallback: string[]): string[] {
  if (value === undefined) return fallback
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string' && item.length > 0)) {
    fail(`${name} must be an array of non-empty strings`)
  }
  return [...value]
}

function boolOption (value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') fail(`${name} must be a boolean`)
  return value
}

function checkUnknown (given: object, known: Set<string>, prefix: string): void {
  for (const key of Object.keys(given)) {
    if (!known.has(key)) fail(`unknown option ${prefix}${key}`)
  }
}

/** Validates the plugin options and fills in the defaults. Throws an error naming the bad option. */
export function resolveOptions (options: FastifyLoginOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') fail('options must be an object')
  checkUnknown(options, KNOWN_OPTIONS, '')
  if (typeof options.loadUser !== 'function') fail('loadUser is required and must be a function')

  const sessionProtection = options.sessionProtection ?? 'basic'
  if (sessionProtection !== 'basic' && sessionProtection !== 'strong' && sessionProtection !== false) {
    fail(`sessionProtection must be 'basic', 'strong' or false, got ${JSON.stringify(sessionProtection)}`)
  }

  const loginUrl = optionalString(options.loginUrl, 'loginUrl')
  const exclude = stringList(options.exclude, 'exclude', []).map((prefix) => {
    if (!prefix.startsWith('/')) fail(`exclude entries must be paths starting with '/', got ${JSON.stringify(prefix)}`)
    return prefix.length > 1 && prefix.endsWith('/') ? prefix.slice(0, -1) : prefix
  })

  return {
    loadUser: shieldAsync('loadUser', options.loadUser),
    getUserId: checked('getUserId', optionalFunction(options.getUserId, 'getUserId') ?? defaultGetUserId, isIdOrNothing, 'a string or a number'),
    isActive: checked('isActive', optionalFunction(options.isActive, 'isActive') ?? defaultIsActive, isBoolean, 'a boolean'),
    authVersion: optionalCallback('authVersion', options.authVersion, isVersion, 'a string or a number'),
    loadUserFromRequest: shieldAsync('loadUserFromRequest', optionalFunction(options.loadUserFromRequest, 'loadUserFromRequest')),
    loginUrl,
    refreshUrl: optionalString(options.refreshUrl, 'refreshUrl') ?? loginUrl,
    nextParam: optionalString(options.nextParam, 'nextParam') ?? 'next',
    sessionProtection,
    remember: options.remember === undefined ? undefined : resolveRemember(options.remember),
    keepSessionKeys: stringList(options.keepSessionKeys, 'keepSessionKeys', []),
    exclude,
    exemptMethods: new Set(stringList(options.exemptMethods, 'exemptMethods', ['OPTIONS']).map((m) => m.toUpperCase())),
    onUnauthorized: optionalFunction(options.onUnauthorized, 'onUnauthorized'),
    onNeedsRefresh: optionalFunction(options.onNeedsRefresh, 'onNeedsRefresh')
  }
}

function resolveRemember (remember: RememberOptions): ResolvedRemember {
  if (remember === null || typeof remember !== 'object') fail('remember must be an object with a secret')
  checkUnknown(remember, KNOWN_REMEMBER_OPTIONS, 'remember.')

  const secrets = typeof remember.secret === 'string' ? [remember.secret] : remember.secret
  if (!Array.isArray(secrets)) fail('remember.secret is required: a string of at least 32 characters or an array of them')
  if (secrets.length === 0) fail('remember.secret must not be an empty array')
  for (const secret of secrets) {
    if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) {
      fail(`remember.secret must be at least ${MIN_SECRET_LENGTH} characters long`)
    }
  }

  const cookieName = optionalString(remember.cookieName, 'remember.cookieName') ?? 'remember_token'
  if (!COOKIE_NAME.test(cookieName)) fail(`remember.cookieName ${JSON.stringify(cookieName)} is not a valid cookie name`)

  const maxAge = remember.maxAge ?? DEFAULT_REMEMBER_MAX_AGE
  if (!checkMaxAge(maxAge)) fail('remember.maxAge must be a positive integer number of milliseconds, at most 400 days')

  const path = optionalString(remember.path, 'remember.path') ?? '/'
  if (!path.startsWith('/')) fail("remember.path must start with '/'")
  const domain = optionalString(remember.domain, 'remember.domain')

  const secure = remember.secure ?? 'auto'
  if (secure !== true && secure !== false && secure !== 'auto') fail("remember.secure must be true, false or 'auto'")

  const sameSite = remember.sameSite ?? 'lax'
  if (sameSite !== 'lax' && sameSite !== 'strict' && sameSite !== 'none') {
    fail(`remember.sameSite must be 'lax', 'strict' or 'none', got ${JSON.stringify(sameSite)}`)
  }
  if (sameSite === 'none' && secure !== true) fail("remember.sameSite 'none' requires remember.secure: true")

  if (cookieName.startsWith('__Host-')) {
    if (domain !== undefined) fail('remember.domain must not be set for a __Host- cookie (remember.cookieName)')
    if (path !== '/') fail("remember.path must be '/' for a __Host- cookie (remember.cookieName)")
    if (secure !== true) fail('remember.secure must be true for a __Host- cookie (remember.cookieName)')
  } else if (cookieName.startsWith('__Secure-') && secure !== true) {
    fail('remember.secure must be true for a __Secure- cookie (remember.cookieName)')
  }

  return {
    secrets: [...secrets],
    cookieName,
    maxAge,
    path,
    domain,
    secure,
    httpOnly: boolOption(remember.httpOnly, 'remember.httpOnly', true),
    sameSite,
    refresh: boolOption(remember.refresh, 'remember.refresh', false)
  }
}

/*
 * User callbacks are wrapped so that what they throw reaches the client only as
 * "fastify-login: loadUser failed" (a 500): Fastify would otherwise put the error's
 * message, which may name a database or a token, in the response body.
 */

/**
 * For the synchronous callbacks: what they throw, and any answer of the wrong type
 * (a Promise, an object), fails. A Promise would otherwise count as `true` for
 * isActive and as one same "[object Promise]" for authVersion or getUserId.
 */
function checked<R> (name: string, fn: (user: LoginUser) => unknown, valid: (answer: unknown) => answer is R, expected: string): (user: LoginUser) => R {
  return (user) => {
    let answer: unknown
    try {
      answer = fn(user)
    } catch (error) {
      throw callbackError(name, error)
    }
    if (!valid(answer)) throw wrongAnswer(name, expected, answer)
    return answer
  }
}

function optionalCallback<R> (name: string, fn: ((user: LoginUser) => unknown) | undefined, valid: (answer: unknown) => answer is R, expected: string): ((user: LoginUser) => R) | undefined {
  return optionalFunction(fn, name) === undefined ? undefined : checked(name, fn!, valid, expected)
}

function isBoolean (answer: unknown): answer is boolean {
  return typeof answer === 'boolean'
}

function isVersion (answer: unknown): answer is string | number {
  return typeof answer === 'string' || (typeof answer === 'number' && Number.isFinite(answer))
}

/** getUserId may also answer null/undefined: loginUser reports that itself. */
function isIdOrNothing (answer: unknown): answer is string | number | null | undefined {
  return answer == null || isVersion(answer)
}

/** Like `shield`, for loaders that may answer with a promise; a sync answer stays sync. */
function shieldAsync<A extends unknown[], R> (name: string, fn: (...args: A) => R | Promise<R>): (...args: A) => R | Promise<R>
function shieldAsync<A extends unknown[], R> (name: string, fn: ((...args: A) => R | Promise<R>) | undefined): ((...args: A) => R | Promise<R>) | undefined
function shieldAsync<A extends unknown[], R> (name: string, fn: ((...args: A) => R | Promise<R>) | undefined): ((...args: A) => R | Promise<R>) | undefined {
  if (fn === undefined) return undefined
  const rethrow = (error: unknown): never => {
    throw callbackError(name, error)
  }
  return (...args) => {
    let result: R | Promise<R>
    try {
      result = fn(...args)
    } catch (error) {
      return rethrow(error)
    }
    return isPromise(result) ? result.then(undefined, rethrow) : result
  }
}

export function isPromise<T> (value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}

/** A remember-me lifetime: whole milliseconds, more than none, no more than browsers keep. */
export function checkMaxAge (maxAge: unknown): maxAge is number {
  return Number.isSafeInteger(maxAge) && (maxAge as number) > 0 && (maxAge as number) <= MAX_REMEMBER_MAX_AGE
}

const KNOWN_GUARD_OPTIONS = new Set(['fresh', 'loginUrl', 'onUnauthorized'])

/** Validates `fastify.loginGuard()` options; throws an error naming the bad one. */
export function checkGuardOptions (options: LoginGuardOptions): LoginGuardOptions {
  if (options === null || typeof options !== 'object') fail('loginGuard options must be an object')
  checkUnknown(options, KNOWN_GUARD_OPTIONS, 'loginGuard.')
  boolOption(options.fresh, 'loginGuard.fresh', false)
  optionalString(options.loginUrl, 'loginGuard.loginUrl')
  optionalFunction(options.onUnauthorized, 'loginGuard.onUnauthorized')
  return options
}

function defaultGetUserId (user: LoginUser): unknown {
  return (user as { id?: unknown }).id
}

function defaultIsActive (user: LoginUser): boolean {
  return (user as { isActive?: unknown }).isActive !== false
}
