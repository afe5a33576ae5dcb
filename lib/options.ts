import type { FastifyRequest } from 'fastify'
import {
  checked, defaultGetUserId, defaultIsActive, isBoolean, isIdOrNothing, isString, isVersion, shielded, shieldedAsync
} from './callbacks'
import {
  boolOption, checkUnknown, checkUrl, fail, MINUTE, optionalDuration, optionalFunction, optionalString, SECOND, stringList
} from './option-checks'
import { resolveLogins, type ResolvedLogins } from './registry/options'
import { resolveRemember, type ResolvedRemember } from './remember/options'
import type { FastifyLoginOptions, GuardHandler, LoginEndReason, LoginUser, ProtectionMode } from './types'

/** Plugin options in, `ResolvedOptions` out: validated, defaults filled in, the app's callbacks wrapped. */

export interface ResolvedProtection {
  mode: ProtectionMode
  /** Set for a custom fingerprint: what it covers. Checked to answer a string. */
  fingerprint: ((request: FastifyRequest) => string) | undefined
}

export interface ResolvedOptions {
  /** Errors come out as CallbackError; a sync answer stays sync. */
  loadUser: FastifyLoginOptions['loadUser']
  getUserId: (user: LoginUser) => string | number | null | undefined
  isActive: (user: LoginUser) => boolean
  authVersion: ((user: LoginUser) => string | number) | undefined
  loadUserFromRequest: FastifyLoginOptions['loadUserFromRequest']
  canImpersonate: ((impersonator: LoginUser, target: LoginUser, request: FastifyRequest) => Promise<boolean>) | undefined
  key: string
  loginUrl: string | undefined
  refreshUrl: string | undefined
  nextParam: string
  nextInSession: boolean
  /** Origins, normalised (`https://app.example.com`). */
  allowedRedirectOrigins: Set<string>
  loginMessage: string | undefined
  refreshMessage: string | undefined
  loginEndedMessage: ((reason: Exclude<LoginEndReason, 'logout'>, request: FastifyRequest) => string) | undefined
  /** undefined: off. */
  protection: ResolvedProtection | undefined
  remember: ResolvedRemember | undefined
  logins: ResolvedLogins | undefined
  keepSessionKeys: string[]
  exclude: string[]
  exemptMethods: Set<string>
  onUnauthorized: GuardHandler | undefined
  onNeedsRefresh: GuardHandler | undefined
  idleTimeout: number | undefined
  absoluteTimeout: number | undefined
  freshFor: number | undefined
}

const KNOWN = new Set([
  'loadUser', 'getUserId', 'isActive', 'authVersion', 'loadUserFromRequest', 'key', 'loginUrl',
  'refreshUrl', 'nextParam', 'nextInSession', 'allowedRedirectOrigins', 'loginMessage', 'refreshMessage',
  'loginEndedMessage', 'sessionProtection', 'remember', 'keepSessionKeys', 'exclude', 'exemptMethods',
  'onUnauthorized', 'onNeedsRefresh', 'logins', 'idleTimeout', 'absoluteTimeout', 'freshFor', 'canImpersonate'
])
const KNOWN_PROTECTION = new Set(['mode', 'fingerprint'])
// A key names session keys (`_<key>`, `_<key>:next`): word characters, never ':'.
const KEY = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/

/** Validates the plugin options and fills in the defaults. Throws an error naming the bad option. */
export function resolveOptions (options: FastifyLoginOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') fail('options must be an object')
  checkUnknown(options, KNOWN, '')
  if (typeof options.loadUser !== 'function') fail('loadUser is required and must be a function')

  const key = optionalString(options.key, 'key') ?? 'login'
  if (!KEY.test(key)) fail(`key must be a word of letters, digits, '_' or '-' starting with a letter, got ${JSON.stringify(key)}`)

  const loginUrl = checkUrl(optionalString(options.loginUrl, 'loginUrl'), 'loginUrl')
  const exclude = stringList(options.exclude, 'exclude', []).map((prefix) => {
    if (!prefix.startsWith('/')) fail(`exclude entries must be paths starting with '/', got ${JSON.stringify(prefix)}`)
    return prefix.length > 1 && prefix.endsWith('/') ? prefix.slice(0, -1) : prefix
  })
  const authVersion = optionalFunction(options.authVersion, 'authVersion')
  const loadUserFromRequest = optionalFunction(options.loadUserFromRequest, 'loadUserFromRequest')
  const canImpersonate = optionalFunction(options.canImpersonate, 'canImpersonate')

  return {
    loadUser: shielded('loadUser', options.loadUser),
    getUserId: checked('getUserId', optionalFunction(options.getUserId, 'getUserId') ?? defaultGetUserId, isIdOrNothing, 'a string or a number'),
    isActive: checked('isActive', optionalFunction(options.isActive, 'isActive') ?? defaultIsActive, isBoolean, 'a boolean'),
    authVersion: authVersion === undefined ? undefined : checked('authVersion', authVersion, isVersion, 'a string or a number'),
    loadUserFromRequest: loadUserFromRequest === undefined ? undefined : shielded('loadUserFromRequest', loadUserFromRequest),
    canImpersonate: canImpersonate === undefined ? undefined : shieldedAsync('canImpersonate', canImpersonate, isBoolean, 'a boolean'),
    key,
    loginUrl,
    refreshUrl: checkUrl(optionalString(options.refreshUrl, 'refreshUrl'), 'refreshUrl') ?? loginUrl,
    nextParam: optionalString(options.nextParam, 'nextParam') ?? 'next',
    nextInSession: boolOption(options.nextInSession, 'nextInSession', false),
    allowedRedirectOrigins: new Set(stringList(options.allowedRedirectOrigins, 'allowedRedirectOrigins', []).map(toOrigin)),
    loginMessage: optionalString(options.loginMessage, 'loginMessage'),
    refreshMessage: optionalString(options.refreshMessage, 'refreshMessage'),
    loginEndedMessage: endedMessage(options.loginEndedMessage),
    protection: resolveProtection(options.sessionProtection),
    remember: options.remember === undefined ? undefined : resolveRemember(options.remember),
    logins: resolveLogins(options.logins),
    keepSessionKeys: stringList(options.keepSessionKeys, 'keepSessionKeys', []),
    exclude,
    exemptMethods: new Set(stringList(options.exemptMethods, 'exemptMethods', ['OPTIONS']).map((m) => m.toUpperCase())),
    onUnauthorized: optionalFunction(options.onUnauthorized, 'onUnauthorized'),
    onNeedsRefresh: optionalFunction(options.onNeedsRefresh, 'onNeedsRefresh'),
    // Idleness is recorded at most once a minute, so a shorter timeout could not be told from a visit.
    idleTimeout: optionalDuration(options.idleTimeout, 'idleTimeout', MINUTE, 'one minute'),
    absoluteTimeout: optionalDuration(options.absoluteTimeout, 'absoluteTimeout', SECOND, 'one second'),
    freshFor: optionalDuration(options.freshFor, 'freshFor', SECOND, 'one second')
  }
}

/** `loginEndedMessage`: a message, or the message for a reason (a function answering a string). */
function endedMessage (message: FastifyLoginOptions['loginEndedMessage']): ResolvedOptions['loginEndedMessage'] {
  if (typeof message === 'function') return checked('loginEndedMessage', message, isString, 'a string')
  if (message !== undefined && (typeof message !== 'string' || message === '')) fail('loginEndedMessage must be a non-empty string or a function of the reason answering one')
  const text = message
  return text === undefined ? undefined : () => text
}

function resolveProtection (protection: FastifyLoginOptions['sessionProtection']): ResolvedProtection | undefined {
  if (protection === false) return undefined
  if (protection === undefined || protection === 'basic' || protection === 'strong') {
    return { mode: protection ?? 'basic', fingerprint: undefined }
  }
  if (protection === null || typeof protection !== 'object') {
    fail(`sessionProtection must be 'basic', 'strong', false or { mode, fingerprint }, got ${JSON.stringify(protection)}`)
  }
  checkUnknown(protection, KNOWN_PROTECTION, 'sessionProtection.')
  if (protection.mode !== 'basic' && protection.mode !== 'strong') {
    fail(`sessionProtection.mode must be 'basic' or 'strong', got ${JSON.stringify(protection.mode)}`)
  }
  if (typeof protection.fingerprint !== 'function') fail('sessionProtection.fingerprint must be a function')
  return {
    mode: protection.mode,
    fingerprint: checked('sessionProtection.fingerprint', protection.fingerprint as (request: FastifyRequest) => unknown, isString, 'a string')
  }
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
