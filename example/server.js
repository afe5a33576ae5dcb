'use strict'

const { build } = require('./app')

async function main () {
  const app = await build({ logger: true })
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
