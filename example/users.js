'use strict'

const { randomBytes, scrypt, timingSafeEqual } = require('node:crypto')
const { promisify } = require('node:util')

const scryptAsync = promisify(scrypt)
const KEY_LENGTH = 64

// Never keep passwords in plain text, not even in a demo. scrypt is a slow,
// memory-hard key derivation function: a leaked table of scrypt hashes is
// expensive to brute-force, unlike one of fast hashes such as SHA-256.
// The salt makes equal passwords hash differently.
async function hashPassword (password) {
  const salt = randomBytes(16)
  const hash = await scryptAsync(password, salt, KEY_LENGTH)
  return { salt, hash }
}

async function verifyPassword (password, { salt, hash }) {
  const candidate = await scryptAsync(password, salt, KEY_LENGTH)
  // Constant-time comparison: the time taken does not reveal how many bytes matched.
  return timingSafeEqual(candidate, hash)
}

// An in-memory user table, hashed once at start-up.
// A real app would read users (and their stored hashes) from a database.
async function createUsers () {
  const records = await Promise.all([
    { id: 1, username: 'user1', password: 'password' },
    { id: 2, username: 'user2', password: 'password' }
  ].map(async ({ id, username, password }) => ({
    user: { id, username },
    secret: await hashPassword(password)
  })))

  const byId = new Map(records.map((record) => [record.user.id, record]))
  const byName = new Map(records.map((record) => [record.user.username, record]))

  return {
    // The object handed to fastify-login is { id, username }: no hash in it,
    // so the hash can never end up in a page, a log line or the session.
    byId (id) {
      return byId.get(id)?.user ?? null
    },
    byUsername (username) {
      return byName.get(username)?.user ?? null
    },
    async checkPassword (user, password) {
      const record = byId.get(user.id)
      return record !== undefined && await verifyPassword(password, record.secret)
    }
  }
}

module.exports = { createUsers }
