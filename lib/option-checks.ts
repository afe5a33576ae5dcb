import { OptionError } from './errors'

/*
 * The checks every option goes through: each failure is an OptionError
 * (`FST_LOGIN_OPTION`) whose message names the option, at registration.
 */

export const SECOND = 1000
export const MINUTE = 60 * SECOND
export const HOUR = 60 * MINUTE
export const DAY = 24 * HOUR
/** Browsers keep no cookie longer than 400 days (RFC 6265bis); no login lasts longer either. */
export const MAX_DURATION = 400 * DAY

export function fail (message: string): never {
  throw new OptionError(message)
}

export function checkUnknown (given: object, known: ReadonlySet<string>, prefix: string): void {
  for (const key of Object.keys(given)) {
    if (!known.has(key)) fail(`unknown option ${prefix}${key}`)
  }
}

export function optionalFunction<T> (value: T | undefined, name: string): T | undefined {
  if (value !== undefined && typeof value !== 'function') fail(`${name} must be a function`)
  return value
}

export function optionalString (value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value.length === 0) fail(`${name} must be a non-empty string`)
  return value
}

export function stringList (value: unknown, name: string, fallback: string[]): string[] {
  if (value === undefined) return fallback
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string' && item.length > 0)) {
    fail(`${name} must be an array of non-empty strings`)
  }
  return [...value]
}

export function boolOption (value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') fail(`${name} must be a boolean`)
  return value
}

/** A whole number of milliseconds within [min, max]; the message says the range in words. */
export function isDuration (value: unknown, min: number, max = MAX_DURATION): value is number {
  return Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max
}

export function optionalDuration (value: unknown, name: string, min: number, range: string): number | undefined {
  if (value === undefined) return undefined
  if (!isDuration(value, min)) fail(`${name} must be a whole number of milliseconds from ${range} to 400 days`)
  return value
}

/** A login or refresh address: a path, or an absolute http(s) URL (a sign-in site on another host). */
export function checkUrl (url: string | undefined, name: string): string | undefined {
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
