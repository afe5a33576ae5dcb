'use strict'

// The pages, one file per part of the site; layout.js holds what they share.

const { escapeHtml } = require('./layout')
const { loginPage, reauthPage } = require('./account')
const { homePage, protectedPage, settingsPage, errorPage } = require('./pages')
const { sessionsPage } = require('./sessions')
const { adminPage } = require('./admin')

module.exports = {
  escapeHtml,
  homePage,
  loginPage,
  protectedPage,
  settingsPage,
  adminPage,
  reauthPage,
  sessionsPage,
  errorPage
}
