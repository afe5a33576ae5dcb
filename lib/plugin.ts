import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import { applyNoStore, createContext } from './context'
import { createGuard } from './guards'
import { createLoadHook } from './load'
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
  return storedUserId(session) !== undefined && session![STALE] !== true
}

async function fastifyLogin (fastify: FastifyInstance, options: FastifyLoginOptions): Promise<void> {
  const context = createContext(resolveOptions(options))
  const { loginUser, logoutUser, confirmLogin, redirectAfterLogin } = createReplyMethods(context)

  fastify.decorateRequest('user', null)
  fastify.decorateRequest('authenticatedBy', null)
  fastify.decorateRequest('isAuthenticated', isAuthenticated)
  fastify.decorateRequest('isFresh', isFresh)

  fastify.decorateReply('loginUser', loginUser)
  fastify.decorateReply('logoutUser', logoutUser)
  fastify.decorateReply('confirmLogin', confirmLogin)
  fastify.decorateReply('redirectAfterLogin', redirectAfterLogin)

  fastify.decorate('loginManager', context.manager)
  fastify.decorate('loginRequired', createGuard(context))
  fastify.decorate('freshLoginRequired', createGuard(context, { fresh: true }))
  fastify.decorate('loginGuard', (guardOptions?: LoginGuardOptions) => createGuard(context, guardOptions))

  // Runs after @fastify/session's own onRequest hook, which this plugin depends on.
  fastify.addHook('onRequest', createLoadHook(context))
  fastify.addHook('onSend', applyNoStore)
}

export const plugin: FastifyPluginAsync<FastifyLoginOptions> = fp(fastifyLogin, {
  fastify: '5.x',
  name: 'fastify-login',
  dependencies: ['@fastify/cookie', '@fastify/session']
})
