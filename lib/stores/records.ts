import type { LoginRecord, RememberSeries } from './types'

/**
 * Checks shared by the stores. Records read back from an outside store are
 * validated here, so that a corrupt value is treated as absent and never
 * reaches the plugin half-formed; only the known fields are kept.
 */

const LOGIN_FIELDS = {
  id: 'string',
  userId: 'string',
  createdAt: 'number',
  lastSeenAt: 'number',
  ip: 'string',
  userAgent: 'string',
  method: 'string',
  remembered: 'boolean'
} as const

const SERIES_FIELDS = {
  selector: 'string',
  userId: 'string',
  loginId: 'string',
  validatorHash: 'string',
  rotatedAt: 'number',
  expiresAt: 'number',
  lifetime: 'number',
  version: 'string'
} as const

const METHODS = new Set(['credentials', 'remember', 'test'])

type Fields = Record<string, 'string' | 'number' | 'boolean'>

/** A copy of `fields` of `value`, or null when one is missing or of another type. */
function pick (value: unknown, fields: Fields): Record<string, unknown> | null {
  if (typeof value !== 'object' || value === null) return null
  const source = value as Record<string, unknown>
  const copy: Record<string, unknown> = {}
  for (const [name, type] of Object.entries(fields)) {
    // eslint-disable-next-line valid-typeof -- `type` comes from the field tables above
    if (typeof source[name] !== type) return null
    copy[name] = source[name]
  }
  return copy
}

/** The login in `value` (a copy), or null when it is not one. */
export function toLogin (value: unknown): LoginRecord | null {
  const login = pick(value, LOGIN_FIELDS)
  if (login === null || !METHODS.has(login.method as string)) return null
  const series = (value as Record<string, unknown>).series
  if (typeof series === 'string') login.series = series
  else if (series !== undefined) return null
  return login as unknown as LoginRecord
}

/** The series in `value` (a copy), or null when it is not one. */
export function toSeries (value: unknown): RememberSeries | null {
  const series = pick(value, SERIES_FIELDS)
  if (series === null) return null
  const previousHash = (value as Record<string, unknown>).previousHash
  if (typeof previousHash !== 'string' && previousHash !== null) return null
  series.previousHash = previousHash
  return series as unknown as RememberSeries
}

/** A copy of the login the caller gives, checked so that no store keeps what it could not give back. */
export function checkLogin (value: LoginRecord, name = 'login'): LoginRecord {
  const login = toLogin(value)
  if (login === null) throw new TypeError(`${name} must be a LoginRecord`)
  return login
}

/** A copy of the series the caller gives, checked like `checkLogin`. */
export function checkSeries (value: RememberSeries): RememberSeries {
  const series = toSeries(value)
  if (series === null) throw new TypeError('series must be a RememberSeries')
  checkMs(series.expiresAt, 'series.expiresAt')
  return series
}

/** JSON.parse that answers undefined for what is not JSON. */
export function parseJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/**
 * Throws unless `value` is a whole number of milliseconds, at least `min`: Redis
 * takes no other expiry, and a store must never keep something "forever" because
 * a time was NaN.
 */
export function checkMs (value: number, name: string, min = 1): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer of milliseconds >= ${min}, got ${value}`)
  }
}

/** `listLogins` order: oldest first, then by id, the same in every store. */
export function oldestFirst (a: LoginRecord, b: LoginRecord): number {
  return a.createdAt - b.createdAt || Number(a.id > b.id) - Number(a.id < b.id)
}
