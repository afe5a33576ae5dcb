import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import { applyNoStore, createContext, kSeenElsewhere } from './context'
import { createGuard } from './guards'
import { createLoadHook, type RouterMatching } from './load'
import { createReplyMethods } from './login'
import { resolveOptions } from './options'
import { STALE, sessionOf, storedUserId } from './session'
import type { FastifyLoginOptions, LoginGuardOptions } from './types'

function isAuthenticated (this: FastifyRequest): boolean {
  return this.user !== null
}

function isFresh (this: FastifyRequest): boolean {
  // A user found by loadUserFromRequest has no login in the session, so is never fresh.
  if (this.user === null) return false
  const session = sessionOf(this)
  return storedUserId(session) !== undefined && session![STALE] !== true && !this[kSeenElsewhere]
}

/** The app's router settings that `exclude` must follow (top-level or in `routerOptions`). */
function routerMatching (fastify: FastifyInstance): RouterMatching {
  const config = fastify.initialConfig as Record<string, unknown> & { routerOptions?: Record<string, unknown> }
  const setting = (name: string, fallback: boolean): boolean => {
    const value = config.routerOptions?.[name] ?? config[name]
    return typeof value === 'boolean' ? value : fallback
  }
  return {
    ignoreTrailingSlash: setting('ignoreTrailingSlash', false),
    ignoreDuplicateSlashes: setting('ignoreDuplicateSlashes', false),
    caseSensitive: setting('caseSensitive', true),
    useSemicolonDelimiter: setting('useSemicolonDelimiter', false)
  }
}

async function fastifyLogin (fastify: FastifyInstance, options: FastifyLoginOptions): Promise<void> {
  const context = createContext(resolveOptions(options))
  const { loginUser, logoutUser, confirmLogin, redirectAfterLogin } = createReplyMethods(context)

  fastify.decorateRequest('user', null)
  fastify.decorateRequest('authenticatedBy', null)
  fastify.decorateRequest('isAuthenticated', isAuthenticated)
  fastify.decorateRequest('isFresh', isFresh)
  fastify.decorateRequest(kSeenElsewhere, false)

  fastify.decorateReply('loginUser', loginUser)
  fastify.decorateReply('logoutUser', logoutUser)
  fastify.decorateReply('confirmLogin', confirmLogin)
  fastify.decorateReply('redirectAfterLogin', redirectAfterLogin)

  fastify.decorate('loginManager', context.manager)
  fastify.decorate('loginRequired', createGuard(context))
  fastify.decorate('freshLoginRequired', createGuard(context, { fresh: true }))
  fastify.decorate('loginGuard', (guardOptions?: LoginGuardOptions) => createGuard(context, guardOptions))

  // Runs after @fastify/session's own onRequest hook, which this plugin depends on.
  fastify.addHook('onRequest', createLoadHook(context, routerMatching(fastify)))
  fastify.addHook('onSend', applyNoStore)
}

export const plugin: FastifyPluginAsync<FastifyLoginOptions> = fp(fastifyLogin, {
  fastify: '5.x',
  name: 'fastify-login',
  dependencies: ['@fastify/cookie', '@fastify/session']
})
