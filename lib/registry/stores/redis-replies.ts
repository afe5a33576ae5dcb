import { isReason, parseJson, toEndedLogin, toLogin, toSeries } from './records'
import type { EndedLogin, LoginEndReason, LoginRecord, RememberSeries } from './types'

/**
 * RedisLoginStore's replies read back into records. What Redis holds is checked
 * like any outside input: a corrupt value is absent, never half-formed; a reply
 * of the wrong shape is an error.
 */

/** A reply as text: node-redis gives strings, or Buffers when the app maps replies to them. */
export function text (reply: unknown): string | null {
  if (typeof reply === 'string') return reply
  return Buffer.isBuffer(reply) ? reply.toString('utf8') : null
}

export function list (reply: unknown, command: string): unknown[] {
  if (!Array.isArray(reply)) throw new Error(`RedisLoginStore: unexpected reply to ${command}`)
  return reply
}

/** A login from its stored JSON and its lastSeenAt (a score of the `seen` index: text, or a number in RESP3), or null. */
export function loginOf (raw: unknown, seen: unknown): LoginRecord | null {
  const json = text(raw)
  const value = json === null ? undefined : parseJson(json)
  if (typeof value !== 'object' || value === null) return null
  return toLogin({ ...value, lastSeenAt: Number(text(seen) ?? seen) })
}

/**
 * The logins of a reply of triples (id, JSON, lastSeenAt); the unreadable ones, and
 * those filed under another id or user, left out.
 */
export function loginsOf (reply: unknown, command: string, userId: string): LoginRecord[] {
  const values = list(reply, command)
  const logins: LoginRecord[] = []
  for (let i = 0; i + 2 < values.length; i += 3) {
    const login = loginOf(values[i + 1], values[i + 2])
    if (login !== null && login.id === text(values[i]) && login.userId === userId) logins.push(login)
  }
  return logins
}

/** The ended value of the `ended` hash: a bare reason, or `{ endReason, endedAt, lastSeenAt, login }`. */
function endedValue (raw: unknown): { endReason?: unknown, endedAt?: unknown, lastSeenAt?: unknown, login?: unknown } | null {
  const value = text(raw)
  if (value === null) return null
  if (!value.startsWith('{')) return { endReason: value }
  const parsed = parseJson(value)
  return typeof parsed === 'object' && parsed !== null ? parsed : null
}

export function reasonOf (raw: unknown): LoginEndReason | null {
  const reason = endedValue(raw)?.endReason
  return isReason(reason) ? reason : null
}

/** The history of a reply of triples (id, ended JSON, endedAt). */
export function endedLoginsOf (reply: unknown, userId: string): EndedLogin[] {
  const values = list(reply, 'listLogins')
  const logins: EndedLogin[] = []
  for (let i = 0; i + 2 < values.length; i += 3) {
    const value = endedValue(values[i + 1])
    if (value === null || typeof value.login !== 'object' || value.login === null) continue
    const { endReason, endedAt, lastSeenAt } = value
    const login = toEndedLogin({ ...value.login, lastSeenAt, endedAt, endReason })
    if (login !== null && login.id === text(values[i]) && login.userId === userId) logins.push(login)
  }
  return logins
}

export function seriesOf (reply: unknown, selector: string): RememberSeries | null {
  const json = text(reply)
  const series = toSeries(json === null ? undefined : parseJson(json))
  return series !== null && series.selector === selector ? series : null
}
