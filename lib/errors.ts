import createError from '@fastify/error'

/** Thrown by the guards for an anonymous request that cannot be redirected. */
export const LoginRequiredError = createError(
  'FST_LOGIN_REQUIRED',
  'Login required',
  401
)

/** Thrown by `freshLoginRequired` for a stale login that cannot be redirected. */
export const FreshLoginRequiredError = createError(
  'FST_LOGIN_FRESH_REQUIRED',
  'A fresh login is required',
  401
)

/** A bad plugin option; the message names the option. */
export const OptionError = createError(
  'FST_LOGIN_OPTION',
  'fastify-login: %s',
  500,
  TypeError
)

/** `reply.loginUser()` was called in a way that cannot work. */
export const LoginError = createError(
  'FST_LOGIN_INVALID',
  'fastify-login: %s',
  500
)

/**
 * A user callback (loadUser, getUserId, authVersion...) threw, or answered something
 * it may not. The response says only which one; the original error, which may hold
 * secrets, is the `cause`, for the app's error handler and the logs.
 */
export const CallbackError = createError(
  'FST_LOGIN_CALLBACK',
  'fastify-login: %s',
  500
)

/** What a failing user callback becomes: a CallbackError naming it, caused by the original. */
export function callbackError (name: string, cause: unknown): Error {
  return new CallbackError(`${name} failed`, { cause })
}

/** A synchronous callback answered the wrong type (a Promise, an object...): it fails, never passes. */
export function wrongAnswer (name: string, expected: string, answer: unknown): Error {
  return new CallbackError(`${name} must return ${expected} synchronously, got ${describe(answer)}`)
}

function describe (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof (value as { then?: unknown } | undefined)?.then === 'function') return 'a Promise'
  const type = typeof value
  return type === 'undefined' ? 'undefined' : `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`
}
