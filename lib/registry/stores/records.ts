import { createHash } from 'node:crypto'
import type { CreateOptions, EndedLogin, EndOptions, LoginEndReason, LoginRecord, RememberSeries, SeriesUpdate } from './types'

/**
 * What every store shares: the checks of what goes in (a store never keeps what
 * it could not give back), the checks of what comes back from an outside store (a
 * corrupt value is absent, never half-formed), the user's slot tag, the orders
 * and the bounds.
 */

/** Logins `endLogins` ends per script, and eviction per `createLogin`: about 1 ms of Redis each. */
export const END_BATCH = 100
/**
 * Reason tombstones, and history records, kept per user (each): past it, the
 * tombstone to be forgotten first, and the record of the oldest end, go first.
 */
export const MAX_ENDED = 1000
/** Length of `userTag`: 4 base64url characters, 24 bits, over Redis Cluster's 16,384 slots. */
export const TAG_LENGTH = 4

const METHODS = new Set(['credentials', 'remember', 'test', 'impersonation'])
const REASONS = new Set(['logout', 'revoked', 'evicted', 'theft', 'idle', 'absolute', 'authVersion', 'protection'])
/** Login ids: random base64url, made by the registry. Anything else names no login. */
const ID = /^[A-Za-z0-9_-]{1,128}$/
/** `userTag(userId)` + 22 random base64url characters. */
const SELECTOR = new RegExp(`^[A-Za-z0-9_-]{${TAG_LENGTH + 22}}$`)
/** A lone surrogate: UTF-8 turns every one into the same bytes, so two such ids would share keys. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

export function isLoginId (value: unknown): value is string {
  return typeof value === 'string' && ID.test(value)
}

export function isSelector (value: unknown): value is string {
  return typeof value === 'string' && SELECTOR.test(value)
}

export function isUserId (value: unknown): value is string {
  return typeof value === 'string' && value !== '' && !LONE_SURROGATE.test(value)
}

/** Throws unless `value` is a user id a store can key on without colliding with another. */
export function checkUserId (value: unknown, name = 'userId'): asserts value is string {
  if (!isUserId(value)) throw new TypeError(`${name} must be a non-empty, well-formed string`)
}

/**
 * The Redis Cluster hash tag of a user's keys, and the start of the user's series
 * selectors: a hash of the id, so users spread over the slots and the tag says
 * nothing about the user. Users may share a tag; their keys still differ.
 */
export function userTag (userId: string): string {
  checkUserId(userId)
  return createHash('sha256').update(userId).digest().subarray(0, 3).toString('base64url')
}

/**
 * Throws unless `value` is a whole number of milliseconds, at least `min`: Redis
 * takes no other expiry, and a store must never keep something "forever" because
 * a time was NaN.
 */
export function checkMs (value: unknown, name: string, min = 1): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer of milliseconds >= ${min}, got ${String(value)}`)
  }
}

type Kind = 'string' | 'number' | 'boolean' | 'hash' | 'hash?' | 'ms' | 'ms0'
type Fields = Record<string, Kind>

const LOGIN: Fields = {
  id: 'string', userId: 'string', createdAt: 'ms', lastSeenAt: 'ms', ip: 'string', userAgent: 'string', method: 'string', remembered: 'boolean'
}
const SERIES: Fields = {
  selector: 'string',
  userId: 'string',
  loginId: 'string',
  validatorHash: 'hash',
  previousHash: 'hash?',
  rotatedAt: 'ms',
  expiresAt: 'ms',
  lifetime: 'ms',
  version: 'string',
  spentHash: 'hash?'
}

function fits (value: unknown, kind: Kind): boolean {
  switch (kind) {
    case 'hash': return typeof value === 'string' && value !== ''
    case 'hash?': return value === null || (typeof value === 'string' && value !== '')
    case 'ms': return Number.isSafeInteger(value) && (value as number) >= 1
    case 'ms0': return Number.isSafeInteger(value) && (value as number) >= 0
    // eslint-disable-next-line valid-typeof -- `kind` is one of the typeof names here
    default: return typeof value === kind
  }
}

/** A copy of `fields` of `value`, or null when one is missing or of another kind. */
function pick (value: unknown, fields: Fields): Record<string, unknown> | null {
  if (typeof value !== 'object' || value === null) return null
  const source = value as Record<string, unknown>
  const copy: Record<string, unknown> = {}
  for (const [name, kind] of Object.entries(fields)) {
    if (!fits(source[name], kind)) return null
    copy[name] = source[name]
  }
  return copy
}

/** Copies the optional string `name` of `source`; false when it is there but not a string. */
function optional (source: Record<string, unknown>, copy: Record<string, unknown>, name: string, check: (value: unknown) => boolean): boolean {
  const value = source[name]
  if (value === undefined) return true
  if (typeof value !== 'string' || !check(value)) return false
  copy[name] = value
  return true
}

/** The login in `value` (a copy of its known fields), or null when it is not one. */
export function toLogin (value: unknown): LoginRecord | null {
  const login = pick(value, LOGIN)
  if (login === null || !isLoginId(login.id) || !isUserId(login.userId) || !METHODS.has(login.method as string)) return null
  const source = value as Record<string, unknown>
  if (!optional(source, login, 'device', () => true) ||
    !optional(source, login, 'impersonatorId', isUserId) ||
    !optional(source, login, 'series', isSelector)) return null
  return login as unknown as LoginRecord
}

/** The ended login in `value`, or null when it is not one. */
export function toEndedLogin (value: unknown): EndedLogin | null {
  const login = toLogin(value) as Record<string, unknown> | null
  if (login === null) return null
  const { endedAt, endReason } = value as Record<string, unknown>
  if (!fits(endedAt, 'ms') || !isReason(endReason)) return null
  return { ...login, endedAt, endReason } as unknown as EndedLogin
}

/** The series in `value`, or null when it is not one (its selector must carry its user's tag). */
export function toSeries (value: unknown): RememberSeries | null {
  const series = pick(value, SERIES)
  if (series === null || !isSelector(series.selector) || !isUserId(series.userId) || !isLoginId(series.loginId) ||
    (series.selector as string).slice(0, TAG_LENGTH) !== userTag(series.userId as string)) return null
  return series as unknown as RememberSeries
}

export function isReason (value: unknown): value is LoginEndReason {
  return typeof value === 'string' && REASONS.has(value)
}

/** A copy of the login the caller gives, checked so that no store keeps what it could not give back. */
export function checkLogin (value: LoginRecord): LoginRecord {
  const login = toLogin(value)
  if (login === null) throw new TypeError('login must be a LoginRecord (a base64url id, a well-formed userId, a known method)')
  return login
}

/** A copy of the series the caller gives, checked like `checkLogin`; it must back `login`. */
export function checkSeries (value: RememberSeries, login: LoginRecord): RememberSeries {
  const series = toSeries(value)
  if (series === null) throw new TypeError('options.series must be a RememberSeries whose selector starts with userTag(userId)')
  if (series.userId !== login.userId || series.loginId !== login.id || login.series !== series.selector) {
    throw new TypeError('options.series must back the login: same userId, its loginId, and login.series its selector')
  }
  return series
}

export function checkCreateOptions (options: CreateOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('createLogin options must be an object')
  checkMs(options.ttl, 'options.ttl')
  checkMs(options.maxPerUser, 'options.maxPerUser')
  checkMs(options.now, 'options.now')
  checkMs(options.keepEndedFor, 'options.keepEndedFor', 0)
  if (options.onLimit !== 'evict-oldest' && options.onLimit !== 'reject') {
    throw new TypeError("options.onLimit must be 'evict-oldest' or 'reject'")
  }
}

export function checkEndOptions (options: EndOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('endLogins options must be an object')
  if (!isReason(options.reason)) throw new TypeError(`options.reason must be an LoginEndReason, got ${String(options.reason)}`)
  checkMs(options.now, 'options.now')
  checkMs(options.keepEndedFor, 'options.keepEndedFor', 0)
}

/** `endLogins`' `which`: the ids to end (those that cannot name a login dropped), or the bounded 'all'. */
export function checkWhich (which: unknown): { ids: string[] } | { limit: number, except: string | null } {
  if (Array.isArray(which)) return { ids: [...new Set(which.filter(isLoginId))] }
  const all = which as { all?: unknown, except?: unknown, limit?: unknown } | null
  if (typeof all !== 'object' || all === null || all.all !== true) {
    throw new TypeError('which must be an array of login ids or { all: true, except, limit }')
  }
  if (all.except !== null && typeof all.except !== 'string') throw new TypeError('which.except must be a login id or null')
  checkMs(all.limit, 'which.limit')
  return { limit: Math.min(all.limit, END_BATCH), except: all.except }
}

export function checkUpdate (update: SeriesUpdate): void {
  if (typeof update !== 'object' || update === null) throw new TypeError('update must be an object')
  for (const name of ['expectHash', 'validatorHash'] as const) {
    if (!fits(update[name], 'hash')) throw new TypeError(`update.${name} must be a non-empty string`)
  }
  for (const name of ['previousHash', 'spentHash'] as const) {
    if (!fits(update[name], 'hash?')) throw new TypeError(`update.${name} must be a non-empty string or null`)
  }
  checkMs(update.rotatedAt, 'update.rotatedAt')
  checkMs(update.now, 'update.now')
  checkMs(update.loginTtl, 'update.loginTtl')
}

export function checkLimit (options: { limit: number, ended: boolean }): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('listLogins options must be an object')
  checkMs(options.limit, 'options.limit')
  if (typeof options.ended !== 'boolean') throw new TypeError('options.ended must be a boolean')
}

/** JSON.parse that answers undefined for what is not JSON. */
export function parseJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Ids in Redis' order for equal scores (bytes; the same as code units for base64url). */
function compareIds (a: string, b: string): number {
  return Number(a > b) - Number(a < b)
}

/** `listLogins` order: most recently seen first, then the greater id, as Redis' ZREVRANGE gives them. */
export function mostRecentlySeen (a: LoginRecord, b: LoginRecord): number {
  return b.lastSeenAt - a.lastSeenAt || compareIds(b.id, a.id)
}

/** Eviction and `endLogins` 'all' order: least recently seen first, then the smaller id (ZRANGE). */
export function leastRecentlySeen (a: LoginRecord, b: LoginRecord): number {
  return -mostRecentlySeen(a, b)
}

/** History order: most recently ended first, then the greater id. */
export function mostRecentlyEnded (a: EndedLogin, b: EndedLogin): number {
  return b.endedAt - a.endedAt || compareIds(b.id, a.id)
}
