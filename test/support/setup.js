'use strict';
// Loaded before any test module: quiet logs unless LOG_LEVEL asks for them.
process.env.NODE_ENV = process.env.NODE_ENV || 'test';
