import type { FastifyRequest, RouteOptions } from 'fastify'
import { SetupError } from './errors'

/**
 * What a registration learns of its routes as they are declared (`onRoute`), so that
 * each request asks its route rather than parsing the URL again:
 *
 * - `exclude`: a route whose path lies under an excluded prefix (whole segments)
 *   loads no user. The router already decided which route serves a request, with
 *   the app's decoding, slash and case settings; following its answer means a new
 *   router option can never make the two disagree.
 * - WebSocket routes (@fastify/websocket): only a real upgrade of a route that
 *   serves one may restore a registry login without rotating its token.
 * - A route declaring `preHandler: undefined` (a guard that does not exist in this
 *   scope, a misspelt decorator) fails at start-up instead of being public.
 */

const kExcluded = Symbol('fastify-login.excluded')
const kWebSocket = Symbol('fastify-login.websocket')

interface RouteConfig {
  [kExcluded]?: true
  [kWebSocket]?: true
}

/** The `onRoute` hook of a registration. */
export function watchRoutes (key: string, exclude: readonly string[]): (route: RouteOptions) => void {
  return (route) => {
    if (Object.hasOwn(route, 'preHandler') && route.preHandler === undefined) {
      throw new SetupError(`route ${String(route.method)} ${route.url} declares preHandler: undefined: the guard it names does not exist ` +
        'in this scope. Import the guards from fastify-login (const { loginRequired } = require(\'fastify-login\')), which are never undefined')
    }
    const excluded = exclude.some((prefix) => underPrefix(route.url, prefix))
    const websocket = (route as { websocket?: unknown }).websocket === true || typeof (route as { wsHandler?: unknown }).wsHandler === 'function'
    if (!excluded && !websocket) return
    const config: RouteConfig = { ...(route.config as object) }
    if (excluded) config[kExcluded] = true
    if (websocket) config[kWebSocket] = true
    route.config = config as RouteOptions['config']
  }
}

function underPrefix (url: string, prefix: string): boolean {
  return prefix === '/' || url === prefix || url.startsWith(prefix + '/')
}

function configOf (request: FastifyRequest): RouteConfig | undefined {
  return request.routeOptions.config as RouteConfig | undefined
}

/** Does this request's route load no user (`exclude`)? */
export function isExcluded (request: FastifyRequest): boolean {
  return configOf(request)?.[kExcluded] === true
}

/**
 * A connection being upgraded. @fastify/websocket sets `request.ws` in its own
 * onRequest hook, which runs after this plugin's when it was registered after it
 * (the usual order), so that flag alone is not enough. Node marks the request
 * itself: `upgrade` is true only for a request that reached the server's 'upgrade'
 * listener (which hands it to the router); on the ordinary request path Node sets
 * it false whatever the headers say, so no client can set it.
 */
function isUpgrade (request: FastifyRequest): boolean {
  return (request as { ws?: unknown }).ws === true || (request.raw as { upgrade?: unknown }).upgrade === true
}

/** The WebSocket upgrade of a route that serves one: its 101 answer can carry no cookie. */
export function isWebSocketUpgrade (request: FastifyRequest): boolean {
  return isUpgrade(request) && configOf(request)?.[kWebSocket] === true
}

/** An upgrade @fastify/websocket handles on a route this registration did not see declared: never restored unrotated. */
export function isUnknownUpgrade (request: FastifyRequest): boolean {
  return isUpgrade(request) && configOf(request)?.[kWebSocket] !== true
}
