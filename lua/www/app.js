// moonbar demo page: joins realm1 over ws://<this host>/ws, runs a tiny chat on
// com.example.chat and shows the router's sessions, registrations and subscriptions live
// (WAMP meta API). No dependencies apart from autobahn-browser (global `autobahn`).
(function () {
  'use strict';

  var TOPIC = 'com.example.chat';
  var REALM = 'realm1';
  var MAX_MESSAGES = 100;
  var RESTART_DELAY_S = 3;

  var statusEl = document.getElementById('status');
  var endpointEl = document.getElementById('endpoint');
  var form = document.getElementById('chat-form');
  var input = document.getElementById('chat-input');
  var sendButton = document.getElementById('chat-send');
  var errorEl = document.getElementById('chat-error');
  var list = document.getElementById('messages');
  var emptyEl = document.getElementById('no-messages');

  var session = null;

  function setStatus(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  }

  function setJoined(joined) {
    input.disabled = !joined;
    sendButton.disabled = !joined;
  }

  function showError(text) {
    errorEl.textContent = text;
    errorEl.hidden = !text;
  }

  function describeError(err) {
    if (!err) return 'unknown error';
    if (err.error) return err.error + (err.args && err.args.length ? ': ' + err.args.join(' ') : '');
    return String(err);
  }

  function addMessage(text, from, mine) {
    var item = document.createElement('li');
    if (mine) item.className = 'mine';
    var body = document.createElement('span');
    body.className = 'text';
    body.textContent = text;
    var meta = document.createElement('span');
    meta.className = 'meta';
    var time = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    meta.textContent = (mine ? 'you' : 'session ' + (from || '?')) + ' · ' + time;
    item.appendChild(body);
    item.appendChild(meta);
    list.insertBefore(item, list.firstChild);
    while (list.children.length > MAX_MESSAGES) list.removeChild(list.lastChild);
    emptyEl.hidden = true;
  }

  // ---- Live router ----------------------------------------------------------------------------
  //
  // Three tables mirror what the router knows about the realm. At join the page subscribes to
  // every meta event (one prefix subscription on "wamp."), then reads a snapshot with the
  // list/get procedures. Events that arrive while the snapshot loads are queued and replayed on
  // top of it. Each event handler sets or deletes (never counts), so replaying an event that the
  // snapshot already shows changes nothing. After that only events change the tables: no polling.

  var liveEls = {
    error: document.getElementById('live-error'),
    sessions: document.getElementById('live-sessions'),
    registrations: document.getElementById('live-registrations'),
    subscriptions: document.getElementById('live-subscriptions'),
    sessionsCount: document.getElementById('sessions-count'),
    registrationsCount: document.getElementById('registrations-count'),
    subscriptionsCount: document.getElementById('subscriptions-count')
  };

  // The mirror of the router: null while not joined. sessions: id -> session details;
  // registrations / subscriptions: id -> {details, members: Set of session ids}.
  // queue: meta events held back while the snapshot loads (null once it is in).
  var live = null;

  function emptyModel(s) {
    return { session: s, sessions: new Map(), registrations: new Map(), subscriptions: new Map(), queue: [] };
  }

  function addPattern(table, details) {
    if (!table.has(details.id)) table.set(details.id, { details: details, members: new Set() });
  }

  function addMember(table, id, sessionId) {
    var entry = table.get(id);
    if (entry) entry.members.add(sessionId);
  }

  function removeMember(table, id, sessionId) {
    var entry = table.get(id);
    if (entry) entry.members.delete(sessionId);
  }

  // Payloads as the router publishes them; m is the model, a the event's positional args.
  var META_EVENTS = {
    'wamp.session.on_join': function (m, a) { m.sessions.set(a[0].session, a[0]); },
    'wamp.session.on_leave': function (m, a) { m.sessions.delete(a[0]); },
    'wamp.registration.on_create': function (m, a) { addPattern(m.registrations, a[1]); },
    'wamp.registration.on_register': function (m, a) { addMember(m.registrations, a[1], a[0]); },
    'wamp.registration.on_unregister': function (m, a) { removeMember(m.registrations, a[1], a[0]); },
    'wamp.registration.on_delete': function (m, a) { m.registrations.delete(a[1]); },
    'wamp.subscription.on_create': function (m, a) { addPattern(m.subscriptions, a[1]); },
    'wamp.subscription.on_subscribe': function (m, a) { addMember(m.subscriptions, a[1], a[0]); },
    'wamp.subscription.on_unsubscribe': function (m, a) { removeMember(m.subscriptions, a[1], a[0]); },
    'wamp.subscription.on_delete': function (m, a) { m.subscriptions.delete(a[1]); }
  };

  function applyMetaEvent(m, topic, args) {
    try {
      META_EVENTS[topic](m, args);
    } catch (e) {
      console.error('unexpected payload of meta event ' + topic + ': ' + JSON.stringify(args));
    }
  }

  function onMetaEvent(args, kwargs, details) {
    var m = live;
    if (!m || !META_EVENTS[details.topic]) return; // other wamp.* events are not shown
    if (m.queue) {
      m.queue.push([details.topic, args || []]);
      return;
    }
    applyMetaEvent(m, details.topic, args || []);
    renderLive();
  }

  // Reads sessions, registrations and subscriptions into m. Something that goes away between
  // its list and its get is skipped: its leave/delete event is in the queue anyway.
  function loadSnapshot(s, m) {
    function call(procedure, id) {
      return s.call(procedure, [id]).then(null, function (err) {
        if (err && /^wamp\.error\.no_such_/.test(err.error)) return null;
        throw err;
      });
    }
    function loadPatterns(kind, table, membersProcedure) {
      return s.call('wamp.' + kind + '.list').then(function (byMatch) {
        var ids = [].concat(byMatch.exact, byMatch.prefix, byMatch.wildcard);
        return Promise.all(ids.map(function (id) {
          return Promise.all([call('wamp.' + kind + '.get', id), call('wamp.' + kind + '.' + membersProcedure, id)]);
        }));
      }).then(function (rows) {
        rows.forEach(function (row) {
          if (row[0] && row[1]) table.set(row[0].id, { details: row[0], members: new Set(row[1]) });
        });
      });
    }
    var sessions = s.call('wamp.session.list').then(function (ids) {
      return Promise.all(ids.map(function (id) { return call('wamp.session.get', id); }));
    }).then(function (list) {
      list.forEach(function (d) { if (d) m.sessions.set(d.session, d); });
    });
    return Promise.all([
      sessions,
      loadPatterns('registration', m.registrations, 'list_callees'),
      loadPatterns('subscription', m.subscriptions, 'list_subscribers')
    ]);
  }

  function startLive(s) {
    var m = live = emptyModel(s);
    liveEls.error.hidden = true;
    renderLive();
    s.subscribe('wamp.', onMetaEvent, { match: 'prefix' }).then(function () {
      return loadSnapshot(s, m);
    }).then(function () {
      if (live !== m) return; // left (or rejoined) meanwhile
      var queued = m.queue;
      m.queue = null;
      queued.forEach(function (e) { applyMetaEvent(m, e[0], e[1]); });
      renderLive();
    }).catch(function (err) {
      if (live !== m) return;
      liveEls.error.textContent = 'meta API: ' + describeError(err);
      liveEls.error.hidden = false;
    });
  }

  function stopLive() {
    live = null;
    renderLive();
  }

  function td(text, className) {
    var cell = document.createElement('td');
    if (className) cell.className = className;
    cell.textContent = text;
    return cell;
  }

  function badge(text) {
    var b = document.createElement('span');
    b.className = 'badge';
    b.textContent = text;
    return b;
  }

  function sessionRow(d, ownId) {
    var tr = document.createElement('tr');
    tr.dataset.id = d.session;
    var id = td(String(d.session), 'mono');
    if (d.session === ownId) {
      tr.className = 'mine';
      id.appendChild(badge('you'));
    }
    var transport = td((d.transport && d.transport.type) || '?');
    var peer = document.createElement('span');
    peer.className = 'peer';
    peer.textContent = (d.transport && d.transport.peer) || '';
    transport.appendChild(peer);
    tr.append(id, td(d.authid, 'mono'), td(d.authrole), transport);
    return tr;
  }

  // One row of the registrations or subscriptions table; the member count's tooltip lists them.
  function patternRow(entry, ownId, withInvoke) {
    var d = entry.details;
    var tr = document.createElement('tr');
    tr.dataset.id = d.id;
    var uri = td(d.uri, 'mono uri');
    if (entry.members.has(ownId)) {
      tr.className = 'mine';
      uri.appendChild(badge('you'));
    }
    tr.append(uri, td(d.match));
    if (withInvoke) tr.append(td(d.invoke));
    var count = td(String(entry.members.size), 'num');
    count.title = 'sessions: ' + (Array.from(entry.members).join(', ') || 'none');
    tr.append(count);
    return tr;
  }

  // Replaces the table's rows; those that were not there before fade in.
  function fillTable(tbody, countEl, rows, columns, emptyText) {
    var shown = new Set(Array.from(tbody.querySelectorAll('tr[data-id]'), function (tr) { return tr.dataset.id; }));
    rows.forEach(function (tr) { if (!shown.has(tr.dataset.id)) tr.classList.add('fresh'); });
    tbody.replaceChildren.apply(tbody, rows);
    countEl.textContent = live && !live.queue ? String(rows.length) : '';
    if (rows.length) return;
    var tr = document.createElement('tr');
    tr.className = 'placeholder';
    var cell = td(emptyText);
    cell.colSpan = columns;
    tr.append(cell);
    tbody.append(tr);
  }

  function byUri(a, b) {
    return a.details.uri < b.details.uri ? -1 : a.details.uri > b.details.uri ? 1 : a.details.id - b.details.id;
  }

  function renderLive() {
    var m = live;
    var ready = m && !m.queue;
    var ownId = m && m.session.id;
    var none = !m ? 'not connected' : !ready ? 'loading…' : null;
    var sessions = [], registrations = [], subscriptions = [];
    if (ready) {
      sessions = Array.from(m.sessions.values(), function (d) { return sessionRow(d, ownId); });
      registrations = Array.from(m.registrations.values()).sort(byUri)
        .map(function (e) { return patternRow(e, ownId, true); });
      subscriptions = Array.from(m.subscriptions.values()).sort(byUri)
        .map(function (e) { return patternRow(e, ownId, false); });
    }
    fillTable(liveEls.sessions, liveEls.sessionsCount, sessions, 4, none || 'no sessions');
    fillTable(liveEls.registrations, liveEls.registrationsCount, registrations, 4, none || 'no registrations');
    fillTable(liveEls.subscriptions, liveEls.subscriptionsCount, subscriptions, 3, none || 'no subscriptions');
  }

  renderLive(); // "not connected" until the session joins

  if (typeof autobahn === 'undefined') {
    setStatus('failed', 'failed — autobahn-browser not loaded (run npm ci in lua/www)');
    return;
  }

  var scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  var url = scheme + location.host + '/ws';
  endpointEl.textContent = url;

  var connection = new autobahn.Connection({
    url: url,
    realm: REALM,
    max_retries: -1,            // a demo page keeps trying while the router restarts
    initial_retry_delay: 1,
    max_retry_delay: 10
  });

  connection.onopen = function (newSession, details) {
    session = newSession;
    setStatus('joined', 'joined — session ' + newSession.id);
    showError('');
    startLive(newSession);
    newSession.subscribe(TOPIC, function (args, kwargs) {
      var text = args && args.length ? String(args[0]) : '';
      var from = kwargs && kwargs.from;
      addMessage(text, from, from === newSession.id);
    }).then(function () {
      setJoined(true);
    }, function (err) {
      showError('subscribe failed: ' + describeError(err));
    });
  };

  connection.onclose = function (reason, details) {
    session = null;
    setJoined(false);
    stopLive();
    var why = (details && details.reason) || reason;
    if (details && details.message) why += ' (' + details.message + ')';
    var text = 'closed — ' + why;
    if (details && details.will_retry) {
      text += '; retrying in ' + Math.round(details.retry_delay) + ' s';
    } else if (details && details.reason === 'wamp.close.system_shutdown') {
      // autobahn does not reconnect after the router said GOODBYE; try again once it is back.
      text += '; reconnecting in ' + RESTART_DELAY_S + ' s';
      setTimeout(function () {
        try { connection.open(); } catch (e) { /* already (re)opening */ }
      }, RESTART_DELAY_S * 1000);
    }
    setStatus('closed', text);
  };

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text || !session) return;
    sendButton.disabled = true;
    // exclude_me: false so this page also receives (and shows) its own message.
    session.publish(TOPIC, [text], { from: session.id }, { exclude_me: false, acknowledge: true }).then(
      function () {
        input.value = '';
        showError('');
      },
      function (err) {
        showError('publish failed: ' + describeError(err));
      }
    ).then(function () {
      sendButton.disabled = !session;
      input.focus();
    });
  });

  setStatus('connecting', 'connecting…');
  connection.open();
})();
