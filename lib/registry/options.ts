import { checked, isLabelOrNothing } from '../callbacks'
import { checkUnknown, fail, isDuration, MINUTE } from '../option-checks'
import type { FastifyLoginOptions, LoginsOptions } from '../types'
import { MemoryLoginStore } from './stores/memory'
import type { LoginStore } from './stores/types'
import type { FastifyRequest } from 'fastify'

const KNOWN = new Set(['store', 'graceMs', 'maxPerUser', 'onLimit', 'keepEndedFor', 'describeDevice'])
const STORE_METHODS = ['createLogin', 'getLogin', 'touchLogin', 'listLogins', 'endLogins', 'getSeries', 'updateSeries', 'extendSeries'] as const
const DEFAULT_GRACE_MS = 5000
const DEFAULT_MAX_PER_USER = 100
/** No call may block a store for long: at most this many logins per user. */
const MAX_PER_USER = 1000

export interface ResolvedLogins {
  store: LoginStore
  graceMs: number
  maxPerUser: number
  onLimit: 'evict-oldest' | 'reject'
  keepEndedFor: number
  describeDevice: ((request: FastifyRequest) => string | undefined) | undefined
}

/** Validates the `logins` option (the login registry) and fills in its defaults; undefined when it is off. */
export function resolveLogins (logins: FastifyLoginOptions['logins']): ResolvedLogins | undefined {
  if (logins === undefined || logins === false) return undefined
  const given: LoginsOptions = logins === true ? {} : logins
  if (given === null || typeof given !== 'object') fail('logins must be true, false or an object of registry options')
  if (Object.hasOwn(given, 'idleTimeout')) fail('logins.idleTimeout is now the top-level idleTimeout option')
  checkUnknown(given, KNOWN, 'logins.')
  const store = given.store === undefined ? new MemoryLoginStore() : given.store
  if (store === null || typeof store !== 'object' || STORE_METHODS.some((method) => typeof store[method] !== 'function')) {
    fail(`logins.store must implement the LoginStore interface (${STORE_METHODS.join(', ')})`)
  }
  const graceMs = given.graceMs === undefined ? DEFAULT_GRACE_MS : given.graceMs
  if (!isDuration(graceMs, 0, MINUTE)) fail('logins.graceMs must be a whole number of milliseconds from 0 to 60000')
  const maxPerUser = given.maxPerUser === undefined ? DEFAULT_MAX_PER_USER : given.maxPerUser
  if (!Number.isSafeInteger(maxPerUser) || maxPerUser < 1 || maxPerUser > MAX_PER_USER) {
    fail(`logins.maxPerUser must be a whole number from 1 to ${MAX_PER_USER}`)
  }
  const onLimit = given.onLimit === undefined ? 'evict-oldest' : given.onLimit
  if (onLimit !== 'evict-oldest' && onLimit !== 'reject') fail(`logins.onLimit must be 'evict-oldest' or 'reject', got ${JSON.stringify(onLimit)}`)
  const keepEndedFor = given.keepEndedFor === undefined ? 0 : given.keepEndedFor
  if (!isDuration(keepEndedFor, 0)) fail('logins.keepEndedFor must be a whole number of milliseconds from 0 to 400 days')
  const describeDevice = given.describeDevice
  if (describeDevice !== undefined && typeof describeDevice !== 'function') fail('logins.describeDevice must be a function')
  return {
    store,
    graceMs,
    maxPerUser,
    onLimit,
    keepEndedFor,
    describeDevice: describeDevice === undefined ? undefined : checked('logins.describeDevice', describeDevice, isLabelOrNothing, 'a string or undefined')
  }
}
