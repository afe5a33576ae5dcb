import { CallbackError, callbackError } from './errors'
import type { LoginUser } from './types'

/*
 * The app's callbacks, wrapped to fail closed. What they throw reaches the client
 * only as "fastify-login: loadUser failed" (a 500, the original as `cause`): Fastify
 * would otherwise put the error's message, which may name a database or a token, in
 * the response body. A synchronous callback that answers the wrong type (an `async
 * isActive` answers a Promise, which is truthy) fails instead of passing.
 */

export function isPromise<T> (value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}

/** A synchronous callback whose throws and wrong answers fail with `FST_LOGIN_CALLBACK` naming it. */
export function checked<A extends unknown[], R> (
  name: string, fn: (...args: A) => unknown, valid: (answer: unknown) => answer is R, expected: string
): (...args: A) => R {
  return (...args) => {
    let answer: unknown
    try {
      answer = fn(...args)
    } catch (error) {
      throw callbackError(name, error)
    }
    if (!valid(answer)) throw wrongAnswer(name, `${expected} synchronously`, answer)
    return answer
  }
}

/** A callback that may answer with a promise; a sync answer stays sync (no promise on the hot path). */
export function shielded<A extends unknown[], R> (name: string, fn: (...args: A) => R | Promise<R>): (...args: A) => R | Promise<R> {
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

/** `shielded`, and the (awaited) answer must pass `valid`. */
export function shieldedAsync<A extends unknown[], R> (
  name: string, fn: (...args: A) => unknown, valid: (answer: unknown) => answer is R, expected: string
): (...args: A) => Promise<R> {
  const call = shielded(name, fn)
  return async (...args) => {
    const answer = await call(...args)
    if (!valid(answer)) throw wrongAnswer(name, expected, answer)
    return answer
  }
}

export function isString (answer: unknown): answer is string {
  return typeof answer === 'string'
}

export function isBoolean (answer: unknown): answer is boolean {
  return typeof answer === 'boolean'
}

export function isVersion (answer: unknown): answer is string | number {
  return typeof answer === 'string' || (typeof answer === 'number' && Number.isFinite(answer))
}

/** getUserId may also answer null/undefined: loginUser reports that itself. */
export function isIdOrNothing (answer: unknown): answer is string | number | null | undefined {
  return answer == null || isVersion(answer)
}

export function isLabelOrNothing (answer: unknown): answer is string | undefined {
  return answer === undefined || typeof answer === 'string'
}

export function defaultGetUserId (user: LoginUser): unknown {
  return (user as { id?: unknown }).id
}

export function defaultIsActive (user: LoginUser): boolean {
  return (user as { isActive?: unknown }).isActive !== false
}

/**
 * Only an object (or a function) is a user. A loader that answers `false`, `0` or
 * `''` found nobody: treating those as users would let them through the guards. An
 * array is nobody too (`[]` is what a query for a deleted user returns), and an
 * Error is not a user either.
 */
export function isUser (value: unknown): value is LoginUser {
  return isObject(value) && !(value instanceof Error)
}

function isObject (value: unknown): value is object {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && !Array.isArray(value)
}

/** A loader's answer as a user or nobody; a returned Error is a failure of the loader, like a throw. */
export function toUser (answer: unknown, loader: string): LoginUser | null {
  if (!isObject(answer)) return null
  if (answer instanceof Error) throw callbackError(loader, answer)
  return answer
}

/** A synchronous callback answered the wrong type (a Promise, an object...): it fails, never passes. */
function wrongAnswer (name: string, expected: string, answer: unknown): Error {
  return new CallbackError(`${name} must return ${expected}, got ${describe(answer)}`)
}

function describe (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (isPromise(value)) return 'a Promise'
  const type = typeof value
  return type === 'undefined' ? 'undefined' : `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`
}
