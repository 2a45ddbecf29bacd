// autobahn-js binds console.warn when it is loaded and logs every connection close
// ("connection closed", "auto-reconnect disabled!", ...). Those lines are expected in these
// tests and would only bury real output, so they are dropped unless MOONBAR_CLIENT_DEBUG is set.
// This module must be imported before autobahn.

const LIFECYCLE = /^(connection closed|auto-reconnect disabled!|giving up trying to auto-reconnect!|auto-reconnecting in )/;

if (!process.env.MOONBAR_CLIENT_DEBUG && !console.warn.__moonbarQuiet) {
  const warn = console.warn.bind(console);
  const quiet = (...args) => {
    if (typeof args[0] === 'string' && LIFECYCLE.test(args[0])) return;
    warn(...args);
  };
  quiet.__moonbarQuiet = true;
  console.warn = quiet;
}
