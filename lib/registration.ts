import type { FastifyRequest } from 'fastify'
import { digestMemo } from './digest'
import { createFingerprint } from './protection'
import { Reporter } from './events'
import { LoginManager } from './manager'
import type { ResolvedOptions } from './options'
import { LoginRegistry } from './registry/registry'
import { off, rememberMe, type RememberMe } from './remember/remember-me'
import type { SessionAccess } from './sessions'
import { keysOf, type SessionKeys } from './state'
import type { LoginUser } from './types'

/** Everything the request hook, the reply methods and the guards of one registration share, built once. */
export interface Registration {
  options: ResolvedOptions
  key: string
  /** The session keys this registration owns. */
  keys: SessionKeys
  sessions: SessionAccess
  manager: LoginManager
  report: Reporter
  /** Remember-me: the stateless sealed cookie, the registry's rotating token, or off. */
  remember: RememberMe
  /** The login registry, when `logins` is on. */
  registry: LoginRegistry | undefined
  /** The state keys of every registration of the app: a login of one keeps the others' keys. */
  appStateKeys: Set<string>
  /** Digest of the user's auth version, '' without the option. */
  versionOf (user: LoginUser): string
  /** The session-protection fingerprint of the request's client, '' without protection. */
  fingerprintOf (request: FastifyRequest): string
}

export function createRegistration (options: ResolvedOptions, sessions: SessionAccess, appStateKeys: Set<string>): Registration {
  const keys = keysOf(options.key)
  appStateKeys.add(keys.state)
  let registry: LoginRegistry | undefined
  const manager = LoginManager.create(options, () => registry)
  const report = new Reporter(manager, options.key)
  if (options.logins !== undefined) registry = new LoginRegistry(options.logins, options.key, report, options.idleTimeout)
  const { authVersion } = options
  // The same users come back: their auth versions' digests are kept, per registration.
  const versionDigest = digestMemo()
  const registration: Registration = {
    options,
    key: options.key,
    keys,
    sessions,
    manager,
    report,
    remember: off,
    registry,
    appStateKeys,
    versionOf: authVersion === undefined ? () => '' : (user) => versionDigest(String(authVersion(user))),
    fingerprintOf: createFingerprint(options.protection)
  }
  registration.remember = rememberMe(registration)
  return registration
}

/** The registration whose hooks serve a route: set on the scope (a decorator), so `request.server` finds it. */
export const kRegistration = Symbol('fastify-login.registration')

export function registrationOf (request: FastifyRequest): Registration | undefined {
  return (request.server as unknown as { [kRegistration]?: Registration })[kRegistration]
}
