import { callbackError, OptionError, wrongAnswer } from './errors'
import { MemoryLoginStore } from './stores/memory'
import type { LoginStore } from './stores/types'
import type {
  FastifyLoginOptions,
  GuardHandler,
  LoginGuardOptions,
  LoginsOptions,
  LoginUser,
  ProtectionMode,
  RememberOptions,
  SameSite
} from './types'
import type { FastifyRequest } from 'fastify'

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

export interface ResolvedProtection {
  mode: ProtectionMode
  /** Set for a custom fingerprint: what it covers. Checked to answer a string. */
  fingerprint: ((request: FastifyRequest) => string) | undefined
}

export interface ResolvedLogins {
  store: LoginStore
  graceMs: number
  idleTimeout: number
}

export interface ResolvedOptions {
  /** Errors come out as CallbackError; a sync answer stays sync. */
  loadUser: FastifyLoginOptions['loadUser']
  getUserId: (user: LoginUser) => string | number | null | undefined
  isActive: (user: LoginUser) => boolean
  authVersion: ((user: LoginUser) => string | number) | undefined
  loadUserFromRequest: FastifyLoginOptions['loadUserFromRequest']
  key: string
  loginUrl: string | undefined
  refreshUrl: string | undefined
  nextParam: string
  nextInSession: boolean
  /** Origins, normalised (`https://app.example.com`). */
  allowedRedirectOrigins: Set<string>
  loginMessage: string | undefined
  refreshMessage: string | undefined
  /** undefined: off. */
  protection: ResolvedProtection | undefined
  remember: ResolvedRemember | undefined
  logins: ResolvedLogins | undefined
  keepSessionKeys: string[]
  exclude: string[]
  exemptMethods: Set<string>
  onUnauthorized: GuardHandler | undefined
  onNeedsRefresh: GuardHandler | undefined
}

const KNOWN_OPTIONS = new Set([
  'loadUser', 'getUserId', 'isActive', 'authVersion', 'loadUserFromRequest', 'key', 'loginUrl',
  'refreshUrl', 'nextParam', 'nextInSession', 'allowedRedirectOrigins', 'loginMessage', 'refreshMessage',
  'sessionProtection', 'remember', 'keepSessionKeys', 'exclude', 'exemptMethods', 'onUnauthorized',
  'onNeedsRefresh', 'logins'
])
const KNOWN_LOGINS_OPTIONS = new Set(['store', 'graceMs', 'idleTimeout'])
const KNOWN_PROTECTION_OPTIONS = new Set(['mode', 'fingerprint'])
// A key names session keys (`_<key>`): plain word characters, starting with a letter.
const KEY = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/
const DEFAULT_GRACE_MS = 5000
const DEFAULT_IDLE_TIMEOUT = 30 * 24 * 60 * 60 * 1000
const STORE_METHODS = ['createLogin', 'getLogin', 'touchLogin', 'listLogins', 'deleteLogins', 'getSeries', 'rotateSeries', 'extendSeries'] as const
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

  const key = optionalString(options.key, 'key') ?? 'login'
  if (!KEY.test(key)) fail(`key must be a word of letters, digits, '_' or '-' starting with a letter, got ${JSON.stringify(key)}`)

  const loginUrl = checkUrl(optionalString(options.loginUrl, 'loginUrl'), 'loginUrl')
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
    key,
    loginUrl,
    refreshUrl: checkUrl(optionalString(options.refreshUrl, 'refreshUrl'), 'refreshUrl') ?? loginUrl,
    nextParam: optionalString(options.nextParam, 'nextParam') ?? 'next',
    nextInSession: boolOption(options.nextInSession, 'nextInSession', false),
    allowedRedirectOrigins: new Set(stringList(options.allowedRedirectOrigins, 'allowedRedirectOrigins', []).map(toOrigin)),
    loginMessage: optionalString(options.loginMessage, 'loginMessage'),
    refreshMessage: optionalString(options.refreshMessage, 'refreshMessage'),
    protection: resolveProtection(options.sessionProtection),
    remember: options.remember === undefined ? undefined : resolveRemember(options.remember),
    logins: resolveLogins(options.logins),
    keepSessionKeys: stringList(options.keepSessionKeys, 'keepSessionKeys', []),
    exclude,
    exemptMethods: new Set(stringList(options.exemptMethods, 'exemptMethods', ['OPTIONS']).map((m) => m.toUpperCase())),
    onUnauthorized: optionalFunction(options.onUnauthorized, 'onUnauthorized'),
    onNeedsRefresh: optionalFunction(options.onNeedsRefresh, 'onNeedsRefresh')
  }
}

function resolveProtection (protection: FastifyLoginOptions['sessionProtection']): ResolvedProtection | undefined {
  if (protection === false) return undefined
  if (protection === undefined || protection === 'basic' || protection === 'strong') {
    return { mode: protection ?? 'basic', fingerprint: undefined }
  }
  if (protection === null || typeof protection !== 'object') {
    fail(`sessionProtection must be 'basic', 'strong', false or { mode, fingerprint }, got ${JSON.stringify(protection)}`)
  }
  checkUnknown(protection, KNOWN_PROTECTION_OPTIONS, 'sessionProtection.')
  if (protection.mode !== 'basic' && protection.mode !== 'strong') {
    fail(`sessionProtection.mode must be 'basic' or 'strong', got ${JSON.stringify(protection.mode)}`)
  }
  if (typeof protection.fingerprint !== 'function') fail('sessionProtection.fingerprint must be a function')
  return {
    mode: protection.mode,
    fingerprint: checked('sessionProtection.fingerprint', protection.fingerprint as (request: unknown) => unknown, isString, 'a string')
  }
}

function resolveLogins (logins: FastifyLoginOptions['logins']): ResolvedLogins | undefined {
  if (logins === undefined || logins === false) return undefined
  const given: LoginsOptions = logins === true ? {} : logins
  if (given === null || typeof given !== 'object') fail('logins must be true, false or { store, graceMs, idleTimeout }')
  checkUnknown(given, KNOWN_LOGINS_OPTIONS, 'logins.')
  const store = given.store ?? new MemoryLoginStore()
  if (store === null || typeof store !== 'object' || STORE_METHODS.some((method) => typeof store[method] !== 'function')) {
    fail(`logins.store must implement the LoginStore interface (${STORE_METHODS.join(', ')})`)
  }
  const graceMs = given.graceMs ?? DEFAULT_GRACE_MS
  if (!Number.isSafeInteger(graceMs) || graceMs < 0 || graceMs > 60000) fail('logins.graceMs must be a whole number of milliseconds from 0 to 60000')
  const idleTimeout = given.idleTimeout ?? DEFAULT_IDLE_TIMEOUT
  if (!Number.isSafeInteger(idleTimeout) || idleTimeout < 60000 || idleTimeout > MAX_REMEMBER_MAX_AGE) {
    fail('logins.idleTimeout must be a whole number of milliseconds from one minute to 400 days')
  }
  return { store, graceMs, idleTimeout }
}

/** A login or refresh address: a path, or an absolute http(s) URL (a sign-in site on another host). */
function checkUrl (url: string | undefined, name: string): string | undefined {
  if (url === undefined || url.startsWith('/')) return url
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return fail(`${name} must be a path starting with '/' or an absolute http(s) URL, got ${JSON.stringify(url)}`)
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') fail(`${name} must use http or https, got ${JSON.stringify(url)}`)
  return url
}

/** `https://app.example.com` as the origin the browser would send; fails for anything that is not one. */
function toOrigin (origin: string): string {
  let parsed: URL | undefined
  try {
    parsed = new URL(origin)
  } catch {}
  if (parsed === undefined || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') || parsed.pathname !== '/' ||
    parsed.search !== '' || parsed.hash !== '' || parsed.username !== '' || parsed.password !== '' || origin.endsWith('/.')) {
    fail(`allowedRedirectOrigins entries must be origins like 'https://app.example.com' (scheme, host, port; no path), got ${JSON.stringify(origin)}`)
  }
  return parsed.origin
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
function checked<T, R> (name: string, fn: (arg: T) => unknown, valid: (answer: unknown) => answer is R, expected: string): (arg: T) => R {
  return (arg) => {
    let answer: unknown
    try {
      answer = fn(arg)
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

function isString (answer: unknown): answer is string {
  return typeof answer === 'string'
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

const KNOWN_GUARD_OPTIONS = new Set(['fresh', 'loginUrl', 'onUnauthorized', 'respond'])

/** Validates `fastify.loginGuard()` options; throws an error naming the bad one. */
export function checkGuardOptions (options: LoginGuardOptions): LoginGuardOptions {
  if (options === null || typeof options !== 'object') fail('loginGuard options must be an object')
  checkUnknown(options, KNOWN_GUARD_OPTIONS, 'loginGuard.')
  boolOption(options.fresh, 'loginGuard.fresh', false)
  boolOption(options.respond, 'loginGuard.respond', true)
  checkUrl(optionalString(options.loginUrl, 'loginGuard.loginUrl'), 'loginGuard.loginUrl')
  optionalFunction(options.onUnauthorized, 'loginGuard.onUnauthorized')
  return options
}

function defaultGetUserId (user: LoginUser): unknown {
  return (user as { id?: unknown }).id
}

function defaultIsActive (user: LoginUser): boolean {
  return (user as { isActive?: unknown }).isActive !== false
}
