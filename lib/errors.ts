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

/**
 * A store failed (the login registry's, or the session store on a path the plugin
 * drives: login, restore, logout): the request fails closed, and the store's own
 * message, which may name a host or a credential, stays out of the response.
 */
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

/** `reply.impersonate()` refused: not a fresh credential login, nested, or `canImpersonate` said no. */
export const ImpersonationError = createError(
  'FST_LOGIN_IMPERSONATE',
  'fastify-login: %s',
  403
)

/** `loginUser` at the login registry's `maxPerUser` with `onLimit: 'reject'`. */
export const LimitError = createError(
  'FST_LOGIN_LIMIT',
  'fastify-login: this user has too many logins',
  403
)

/**
 * Runs a call to a store (the session store, the login store): its failure becomes
 * a StoreError (`FST_LOGIN_STORE`) caused by it, so the store's own message
 * (`connect ECONNREFUSED 10.9.8.7:6379`) never reaches a response body. Fail closed.
 */
export async function guarded<T> (call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (cause) {
    throw new StoreError({ cause })
  }
}

/** What a failing user callback becomes: a CallbackError naming it, caused by the original. */
export function callbackError (name: string, cause: unknown): Error {
  return new CallbackError(`${name} failed`, { cause })
}
