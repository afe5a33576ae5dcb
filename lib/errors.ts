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

/** The plugin cannot work as registered (a missing session plugin, two logins that clash); the message says what to change. */
export const SetupError = createError(
  'FST_LOGIN_SETUP',
  'fastify-login: %s',
  500
)

/** The login registry's store failed (unreachable, timed out): the request fails closed. */
export const StoreError = createError(
  'FST_LOGIN_STORE',
  'fastify-login: the login store failed',
  500
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

/** What a failing store call becomes: a StoreError (the store's own message stays out of the body), caused by it. */
export function storeError (cause: unknown): Error {
  return new StoreError({ cause })
}

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
