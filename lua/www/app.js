// moonbar demo page: joins realm1 over ws://<this host>/ws and runs a tiny chat on
// com.example.chat. No dependencies apart from autobahn-browser (global `autobahn`).
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
