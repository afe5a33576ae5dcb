import type { RedisNode } from './redis-client'
import { text } from './redis-replies'

/**
 * The durability check of RedisLoginStore: reads each server's replication and
 * persistence settings and names every way a revocation could be lost, or every
 * remembered user logged out. INFO is always allowed; CONFIG GET is refused on
 * some managed Redis, and the check then says what it could not see.
 */

function parseInfo (reply: unknown): Map<string, string> {
  const fields = new Map<string, string>()
  for (const line of (text(reply) ?? String(reply)).split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1).trim())
  }
  return fields
}

/** A CONFIG GET value (RESP2 [name, value], RESP3 map), or null when refused or unreadable. */
async function config (node: RedisNode, name: string): Promise<string | null> {
  let reply: unknown
  try {
    reply = await node.send(['CONFIG', 'GET', name])
  } catch {
    return null
  }
  if (Array.isArray(reply)) return reply.length >= 2 ? text(reply[1]) : null
  if (reply instanceof Map) return text(reply.get(name))
  if (typeof reply === 'object' && reply !== null) return text((reply as Record<string, unknown>)[name])
  return null
}

async function inspectNode (node: RedisNode, replicas: number): Promise<string[]> {
  const info = parseInfo(await node.send(['INFO', 'replication']))
  for (const [name, value] of parseInfo(await node.send(['INFO', 'persistence']))) info.set(name, value)
  const warnings: string[] = []
  const connected = Number(info.get('connected_slaves') ?? 0)
  if (info.get('role') === 'slave') {
    warnings.push(`${node.name} is a replica: the store's writes fail there; give it the primary`)
  }
  if (connected > 0 && replicas === 0) {
    warnings.push(`${node.name} has ${connected} replica(s) but the store's replicas option is 0: ` +
      'a failover to a replica that had not yet received a revocation brings the revoked login back, ' +
      'and a lost rotation logs a browser out; set replicas (1 or more)')
  }
  if (replicas > connected) {
    warnings.push(`${node.name} has ${connected} connected replica(s) but the store's replicas option is ${replicas}: ` +
      'every write that ends, rotates or extends a login fails (FST_LOGIN_STORE) until enough replicas are connected')
  }
  if (info.get('aof_enabled') !== '1') {
    const save = await config(node, 'save')
    if (save === '') {
      warnings.push(`${node.name} has no persistence (no AOF, no RDB snapshots): a restart forgets every login, ` +
        'so every remembered user is logged out')
    } else {
      warnings.push(`${node.name} has no AOF (appendonly no): a restart from an RDB snapshot brings back ` +
        'every login revoked since that snapshot' + (save === null ? ' (CONFIG GET was refused: snapshot settings unknown)' : ''))
    }
  } else if (await config(node, 'appendfsync') === 'no') {
    warnings.push(`${node.name} writes its AOF with appendfsync no: a crash of the machine can lose ` +
      'the last seconds of revocations; use everysec or always')
  }
  return warnings
}

/** Warnings about every server of the deployment, in the order of the nodes. */
export async function inspectDurability (nodes: readonly RedisNode[], replicas: number): Promise<string[]> {
  const warnings: string[] = []
  for (const node of nodes) warnings.push(...await inspectNode(node, replicas))
  return warnings
}
