'use strict'

const { build } = require('./app')

async function main () {
  // LOG_LEVEL=debug shows why fastify-login let a request in or refused it.
  // Nothing logged carries a cookie, a secret or a password: Fastify logs the
  // method and URL of a request, not its headers or body.
  const app = await build({ logger: { level: process.env.LOG_LEVEL || 'info' } })
  const port = Number(process.env.PORT ?? 3000)
  const host = process.env.HOST ?? '127.0.0.1'
  const address = await app.listen({ port, host })
  app.log.info(`fastify-login example: open ${address} and log in as user1 / password`)

  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      app.close().then(() => process.exit(0), () => process.exit(1))
    })
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
