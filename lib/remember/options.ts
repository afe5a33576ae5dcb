import { boolOption, checkUnknown, DAY, fail, isDuration, optionalString } from '../option-checks'
import type { RememberOptions, SameSite } from '../types'

export const DEFAULT_REMEMBER_MAX_AGE = 30 * DAY
const MIN_SECRET_LENGTH = 32
// What RFC 6265 allows in a cookie name (a token).
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const KNOWN = new Set(['secret', 'cookieName', 'maxAge', 'path', 'domain', 'secure', 'httpOnly', 'sameSite', 'refresh'])

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

/** A remember-me lifetime: whole milliseconds, at least a second, no more than browsers keep a cookie. */
export function checkMaxAge (maxAge: unknown): maxAge is number {
  return isDuration(maxAge, 1)
}

/** Validates the `remember` option and fills in its defaults. */
export function resolveRemember (remember: RememberOptions): ResolvedRemember {
  if (remember === null || typeof remember !== 'object') fail('remember must be an object with a secret')
  checkUnknown(remember, KNOWN, 'remember.')

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
