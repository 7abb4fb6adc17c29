// CHAOS Relay admin dashboard: the page's only script (plain JS, no build step).
//
// The server renders the first page of everything with html/template; this
// script then refreshes it every 10 s from /admin/status and the other JSON
// routes, pages and filters the lists, and drives the dialogs. It builds every
// element with DOM APIs and sets every value with textContent or a property:
// data is never parsed as HTML, so message bodies, sender names and
// channel names cannot become markup. A 401 from any route leads to the login
// page.
'use strict';

(() => {
  const SESSIONS_PER_PAGE = 10; // PROTOCOL §9
  const MESSAGES_PER_PAGE = 20; // PROTOCOL §9
  const STATUS_WINDOW = 200; // sessions per /admin/status answer
  const DELIVERIES_PER_PAGE = 20;
  const DIALOG_PAGE = 50; // PROTOCOL §9: the messages dialog pages 50 at a time
  const REFRESH_MS = 10000;

  const $ = (id) => document.getElementById(id);

  // el makes an element with a class and a text; the text is never parsed.
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function cell(content, cls) {
    const td = el('td', cls);
    if (content !== null && content !== undefined) td.append(content);
    return td;
  }

  function textCell(text, cls) {
    return el('td', cls, text);
  }

  function when(iso) {
    return typeof iso === 'string' && iso.length >= 19 ? iso.slice(0, 19).replace('T', ' ') : iso || '';
  }

  function timeEl(iso) {
    const t = el('time', '', when(iso));
    if (iso) t.dateTime = iso;
    return t;
  }

  // shortID is an id where room is short: whole up to 13 characters, else
  // its first 4 and last 8 around "…" (UUIDv7 ids of the same minute share
  // their first 8). admin/timefmt.go shortID does the same: keep the two in
  // step.
  function shortID(id) {
    const c = Array.from(String(id));
    return c.length <= 13 ? c.join('') : c.slice(0, 4).join('') + '…' + c.slice(-8).join('');
  }

  // idEl shows an id shortened, with the whole id as its title; copying it
  // copies the whole id (copyFullID).
  function idEl(id, cls) {
    const e = el('span', 'short-id ' + cls, shortID(id));
    e.title = String(id);
    return e;
  }

  // copyFullID is the page's copy handler: when the selection lies inside
  // one shortened id, the clipboard gets the whole id (its title) instead of
  // the shortened text.
  function copyFullID(ev) {
    const sel = document.getSelection();
    if (!sel || sel.rangeCount === 0 || sel.isCollapsed || !ev.clipboardData) return;
    let node = sel.getRangeAt(0).commonAncestorContainer;
    if (node.nodeType !== Node.ELEMENT_NODE) node = node.parentElement;
    const id = node && node.closest('.short-id');
    if (!id || !id.title) return;
    ev.clipboardData.setData('text/plain', id.title);
    ev.preventDefault();
  }

  function plural(n, noun) {
    return n === 1 ? '1 ' + noun : n + ' ' + noun + 's';
  }

  function str(v) {
    return typeof v === 'string' ? v : '';
  }

  function statusEl(status) {
    return el('span', 'status status-' + status, status);
  }

  function dirEl(dir) {
    return el('span', 'dir dir-' + dir, dir);
  }

  // channelCell shows a channel's type and shortened id.
  function channelCell(type, id) {
    const td = el('td', 'nowrap', type + ' ');
    td.append(idEl(id, 'mono muted'));
    return td;
  }

  function showError(id, message) {
    const p = $(id);
    p.textContent = message;
    p.hidden = false;
  }

  // Unauthorized ends whatever was running: the page is on its way to the login.
  class Unauthorized extends Error {}

  // api calls a JSON route and returns its body; a non-2xx answer throws an
  // Error with the server's error text.
  async function api(method, url) {
    const res = await fetch(url, {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { Accept: 'application/json' },
    });
    if (res.status === 401) {
      location.assign('/admin/login');
      throw new Unauthorized('Unauthorized');
    }
    let body = null;
    try {
      body = await res.json();
    } catch (_) {
      body = null;
    }
    if (!res.ok) {
      throw new Error(body && typeof body.error === 'string' ? body.error : 'HTTP ' + res.status);
    }
    return body;
  }

  const state = {
    statusSeq: 0,
    offset: 0, // first session of the loaded window
    sessions: [],
    sessionCount: 0,
    sessionPage: 0, // within the filtered window
    sessionFilter: '',
    recent: [],
    recentPage: 0,
    recentFilter: '',
    deliverySeq: 0,
    deliveryStatus: '',
    deliveries: [],
    deliveryCursor: '',
    conns: new Map(), // userId → lines of its sockets and polling (/admin/connections)
    connSeq: 0,
    deadSeq: 0,
    deadLetters: [],
    deadCursor: '',
  };

  // ---- Stat tiles ----

  function renderTiles(s) {
    const ok = s.status === 'ok';
    $('t-storage').textContent = s.storage;
    const st = $('t-storage-state');
    st.textContent = ok ? 'OK' : 'degraded';
    st.className = 'tile-sub ' + (ok ? 'good' : 'bad');
    $('t-websockets').textContent = s.websockets;
    $('t-sessions').textContent = s.sessionCount;
    $('t-uptime').textContent = Math.floor(s.uptime / 60);
    $('t-query').textContent = s.queryMs;
    $('t-pending').textContent = s.deliveries.pending;
    $('t-lasthour').textContent = s.messagesLastHour;
    const failed = $('t-failed');
    failed.textContent = s.deliveries.failed;
    failed.className = 'tile-value' + (s.deliveries.failed ? ' bad' : '');
    renderCluster(s.cluster);
  }

  // ---- Cluster: the relay's nodes (status "cluster", absent on one node) ----

  // uptimeText and beatAgeText say a node's uptime and the age of its last
  // heartbeat as admin/dashboard_cluster.go does: keep them in step.
  function uptimeText(s) {
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min';
    if (s < 48 * 3600) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
    return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
  }

  function beatAgeText(ms) {
    if (ms < 60000) return Math.floor(ms / 1000) + '.' + Math.floor((ms % 1000) / 100) + ' s ago';
    const s = ms / 1000;
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 48 * 3600) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' d ago';
  }

  // nodeLeases are what a node holds, readable, as admin/dashboard_cluster.go
  // nodeCard lists them.
  function nodeLeases(n) {
    const out = [];
    for (const g of n.gateways) {
      out.push({ text: 'gateway ' + (g.label || shortID(g.channelId)), title: g.channelType + ' channel ' + g.channelId });
    }
    if (n.sweep) out.push({ text: 'sweep', title: 'runs the retention sweep' });
    if (n.outboxes > 0) out.push({ text: plural(n.outboxes, 'outbox channel'), title: 'delivers the replies of these channels' });
    for (const l of n.otherLeases) out.push({ text: 'lease ' + l, title: l });
    return out;
  }

  function nodeEl(n) {
    const card = el('article', 'node' + (n.self ? ' node-self' : ''));
    card.dataset.node = n.id;
    const head = el('div', 'node-head');
    head.append(el('span', 'node-id mono', n.id));
    if (n.self) head.append(el('span', 'tag tag-self', 'this node'));
    head.append(el('span', 'muted node-version', 'v' + n.version));
    const facts = el('div', 'node-facts');
    const beat = el('span', 'node-beat', 'heartbeat ' + beatAgeText(n.beatAgeMs));
    beat.title = n.lastBeat;
    facts.append(el('span', 'node-uptime', 'up ' + uptimeText(n.uptime)), el('span', 'node-sockets', plural(n.sockets, 'socket')), beat);
    card.append(head, facts);
    if (n.addr) card.append(el('div', 'node-addr mono muted', n.addr));
    const leases = el('div', 'node-leases');
    const held = nodeLeases(n);
    for (const l of held) {
      const e = el('span', 'lease', l.text);
      e.title = l.title;
      leases.append(e);
    }
    if (!held.length) leases.append(el('span', 'muted', 'no leases'));
    card.append(leases);
    return card;
  }

  // renderCluster shows the Cluster tile and panel while the relay has
  // nodes, and hides them on a single relay.
  function renderCluster(c) {
    const on = !!(c && c.nodes.length);
    $('t-cluster').hidden = !on;
    $('cluster-panel').hidden = !on;
    $('t-websockets-sub').textContent = on ? 'open on this node' : 'open';
    if (!on) return;
    $('t-cluster-sockets').textContent = c.websockets;
    $('t-cluster-sub').textContent = 'sockets on ' + plural(c.nodes.length, 'node');
    $('cluster-summary').textContent = plural(c.nodes.length, 'node') + ' · ' + plural(c.websockets, 'socket') + ' in all';
    $('nodes').replaceChildren(...c.nodes.map(nodeEl));
  }

  // ---- Sessions & channels ----

  // channelBadge is a channel's badge as its platform describes it (label and
  // details in the status JSON), as admin/dashboard.go channelBadge draws it.
  function channelBadge(ch) {
    return { type: ch.type, id: ch.id, name: ch.name || '', label: str(ch.label),
      details: Array.isArray(ch.details) ? ch.details : [], disabled: !ch.enabled, last: lastMessage(ch.lastInbound) };
  }

  function badgeEl(b) {
    const e = el('span', 'badge badge-' + b.type + (b.disabled ? ' is-disabled' : ''));
    e.title = b.type + ' channel ' + b.id;
    e.append(el('span', 'badge-type', b.type));
    if (b.name) e.append(el('span', 'badge-name', b.name));
    if (b.label) e.append(el('span', 'badge-label', b.label));
    for (const d of b.details) e.append(el('span', 'badge-detail', d));
    if (b.disabled) e.append(el('span', 'badge-off', 'disabled'));
    if (b.last) e.append(el('span', 'badge-last', b.last));
    e.append(idEl(b.id, 'badge-id'));
    return e;
  }

  function actionButton(label, cls, action, user) {
    const b = el('button', cls, label);
    b.type = 'button';
    b.dataset.action = action;
    b.dataset.user = user;
    return b;
  }

  function sessionEl(s) {
    const card = el('article', 'session');
    card.dataset.user = s.userId;
    const head = el('div', 'session-head');
    const id = idEl(s.userId, 'session-id mono');
    const on = s.wsConnections > 0;
    head.append(id, el('span', 'ws' + (on ? ' ws-on' : ''), on ? s.wsConnections + ' connected' : 'disconnected'));
    if (s.signed) head.append(el('span', 'tag', 'signed'));
    const created = el('span', 'muted session-created', 'created ');
    created.append(timeEl(s.createdAt));
    const actions = el('span', 'session-actions');
    actions.append(
      actionButton('Messages', 'small', 'messages', s.userId),
      actionButton('Delete', 'small danger', 'delete', s.userId),
    );
    head.append(created, actions);
    const chans = el('div', 'session-channels');
    chans.append(el('span', 'muted channel-count', plural(s.channels.length, 'channel')));
    for (const ch of s.channels) chans.append(badgeEl(channelBadge(ch)));
    card.append(head, chans);
    if (s.mcp) card.append(el('div', 'session-mcp muted', 'MCP: ' + plural(s.mcp.sessions, 'session') + ' open · ' + plural(s.mcp.callsLastHour, 'call') + ' in the last hour'));
    const lines = state.conns.get(s.userId);
    if (lines && lines.length) card.append(connList(lines));
    return card;
  }

  function sessionMatches(s, q) {
    if (s.userId.toLowerCase().includes(q)) return true;
    return s.channels.some((ch) =>
      [ch.type, ch.id, str(ch.botUsername), str(ch.inboundAddress), str(ch.name)].some((v) =>
        v.toLowerCase().includes(q),
      ),
    );
  }

  function filteredSessions() {
    const q = state.sessionFilter.trim().toLowerCase();
    return q ? state.sessions.filter((s) => sessionMatches(s, q)) : state.sessions;
  }

  // The filter searches the loaded window of up to 200 sessions; Prev and
  // Next move through its pages and then on to the neighbouring windows, so
  // the server never scans all sessions for one request.
  // visibleSessions are the sessions of the current page.
  function visibleSessions() {
    const list = filteredSessions();
    const pages = Math.max(1, Math.ceil(list.length / SESSIONS_PER_PAGE));
    const page = Math.max(0, Math.min(state.sessionPage, pages - 1));
    return list.slice(page * SESSIONS_PER_PAGE, (page + 1) * SESSIONS_PER_PAGE);
  }

  function renderSessions() {
    const q = state.sessionFilter.trim();
    const list = filteredSessions();
    const pages = Math.max(1, Math.ceil(list.length / SESSIONS_PER_PAGE));
    state.sessionPage = Math.max(0, Math.min(state.sessionPage, pages - 1));
    const start = state.sessionPage * SESSIONS_PER_PAGE;
    const page = list.slice(start, start + SESSIONS_PER_PAGE);
    if (page.some((s) => !state.conns.has(s.userId))) refreshConnections().catch(connError);
    $('sessions').replaceChildren(
      ...(page.length ? page.map(sessionEl) : [el('p', 'empty', q ? 'No matching sessions' : 'No sessions')]),
    );
    const pager = $('sessions-pager');
    let info;
    if (!q) {
      info = page.length
        ? state.offset + start + 1 + '–' + (state.offset + start + page.length) + ' of ' + plural(state.sessionCount, 'session')
        : 'No sessions';
    } else {
      const windowInfo = state.sessions.length
        ? 'sessions ' + (state.offset + 1) + '–' + (state.offset + state.sessions.length) + ' of ' + state.sessionCount
        : 'no sessions';
      info = (page.length ? start + 1 + '–' + (start + page.length) + ' of ' : '') + list.length + ' matching in ' + windowInfo;
      if (state.offset + STATUS_WINDOW < state.sessionCount && state.sessionPage + 1 >= pages) {
        info += ' · Next › searches older sessions';
      }
    }
    pager.querySelector('.pager-info').textContent = info;
    pager.querySelector('[data-page="prev"]').disabled = !(state.sessionPage > 0 || state.offset > 0);
    pager.querySelector('[data-page="next"]').disabled = !(
      state.sessionPage + 1 < pages || state.offset + STATUS_WINDOW < state.sessionCount
    );
  }

  function sessionsPage(dir) {
    const pages = Math.max(1, Math.ceil(filteredSessions().length / SESSIONS_PER_PAGE));
    if (dir > 0) {
      if (state.sessionPage + 1 < pages) {
        state.sessionPage++;
        renderSessions();
      } else if (state.offset + STATUS_WINDOW < state.sessionCount) {
        state.offset += STATUS_WINDOW;
        state.sessionPage = 0;
        refreshAll();
      }
    } else if (state.sessionPage > 0) {
      state.sessionPage--;
      renderSessions();
    } else if (state.offset > 0) {
      state.offset = Math.max(0, state.offset - STATUS_WINDOW);
      state.sessionPage = Number.MAX_SAFE_INTEGER; // the window's last page
      refreshAll();
    }
  }

  // ---- Recent messages ----

  function recentRow(m) {
    const tr = el('tr');
    tr.append(
      cell(timeEl(m.timestamp), 'nowrap'),
      cell(dirEl(m.direction)),
      textCell(m.from, 'from'),
      channelCell(m.channelType, m.fullChannelId),
      cell(idEl(m.fullUserId, 'mono'), 'nowrap'),
      textCell(m.content, 'content'),
      cell(m.delivery ? statusEl(m.delivery) : m.direction === 'in' ? timelineButton(m.id) : null),
    );
    return tr;
  }

  function recentMatches(m, q) {
    return [m.from, m.content, m.channelType, m.fullChannelId, m.fullUserId, m.direction, str(m.delivery)].some((v) =>
      String(v).toLowerCase().includes(q),
    );
  }

  function emptyRow(cols, text) {
    const tr = el('tr', 'empty-row');
    const td = el('td', '', text);
    td.colSpan = cols;
    tr.append(td);
    return tr;
  }

  function renderRecent() {
    const q = state.recentFilter.trim().toLowerCase();
    const list = q ? state.recent.filter((m) => recentMatches(m, q)) : state.recent;
    const pages = Math.max(1, Math.ceil(list.length / MESSAGES_PER_PAGE));
    state.recentPage = Math.max(0, Math.min(state.recentPage, pages - 1));
    const start = state.recentPage * MESSAGES_PER_PAGE;
    const page = list.slice(start, start + MESSAGES_PER_PAGE);
    $('recent').replaceChildren(
      ...(page.length ? page.map(recentRow) : [emptyRow(7, q ? 'No matching messages' : 'No messages')]),
    );
    const pager = $('recent-pager');
    pager.querySelector('.pager-info').textContent = page.length
      ? start + 1 + '–' + (start + page.length) + ' of ' + plural(list.length, q ? 'matching message' : 'message')
      : q
        ? 'No matching messages'
        : 'No messages';
    pager.querySelector('[data-page="prev"]').disabled = state.recentPage === 0;
    pager.querySelector('[data-page="next"]').disabled = state.recentPage + 1 >= pages;
  }

  // ---- Status refresh ----

  async function refreshStatus() {
    const seq = ++state.statusSeq;
    const s = await api('GET', '/admin/status?offset=' + state.offset);
    if (seq !== state.statusSeq) return;
    if (s.sessions.length === 0 && state.offset > 0) {
      // Sessions were deleted under the window: go to the last one that exists.
      state.offset = s.sessionCount > 0 ? Math.floor((s.sessionCount - 1) / STATUS_WINDOW) * STATUS_WINDOW : 0;
      state.sessionPage = Number.MAX_SAFE_INTEGER;
      return refreshStatus();
    }
    state.sessions = s.sessions;
    state.sessionCount = s.sessionCount;
    state.recent = s.recentMessages;
    renderTiles(s);
    renderSessions();
    renderRecent();
    $('refresh-state').textContent = 'v' + s.version + ' · updated ' + new Date().toLocaleTimeString();
  }

  async function refreshAll() {
    try {
      await Promise.all([refreshStatus().then(refreshConnections), loadDeliveries(false), refreshCharts(), loadDeadLetters(false)]);
    } catch (e) {
      if (!(e instanceof Unauthorized)) $('refresh-state').textContent = 'Refresh failed: ' + e.message;
    }
  }

  // ---- Reply deliveries ----

  function deliveryRow(d) {
    const tr = el('tr');
    tr.dataset.id = d.responseId;
    let action = null;
    if (d.status === 'failed') {
      action = el('button', 'small', 'Retry');
      action.type = 'button';
      action.dataset.action = 'retry';
      action.dataset.id = d.responseId;
    }
    tr.append(
      cell(timeEl(d.createdAt), 'nowrap'),
      cell(idEl(d.responseId, 'mono'), 'nowrap'),
      cell(statusEl(d.status)),
      channelCell(d.channelType, d.channelId),
      textCell(d.attempts, 'num'),
      textCell(partsText(d), 'num parts'),
      textCell(d.lastError || '', 'content'),
      cell(d.nextAttemptAt ? timeEl(d.nextAttemptAt) : null, 'nowrap'),
      cell(action),
    );
    return tr;
  }

  // partsText is a delivery's parts, "1/3", or a dash while no part was
  // accepted (the relay learns partsTotal with the first accepted part), as
  // admin/deliveries_list.go partsLabel does: keep the two in step.
  function partsText(d) {
    return d.partsTotal > 0 ? d.partsSent + '/' + d.partsTotal : '—';
  }

  function renderDeliveries() {
    const rows = state.deliveries.map(deliveryRow);
    $('deliveries').replaceChildren(...(rows.length ? rows : [emptyRow(9, 'No deliveries')]));
    $('deliveries-more').hidden = !state.deliveryCursor;
  }

  // loadDeliveries reloads the list (as many records as are shown, so a
  // refresh keeps what "Load more" added) or appends the next page.
  async function loadDeliveries(append) {
    const seq = append ? state.deliverySeq : ++state.deliverySeq;
    const params = new URLSearchParams();
    if (state.deliveryStatus) params.set('status', state.deliveryStatus);
    if (append) {
      params.set('limit', String(DELIVERIES_PER_PAGE));
      params.set('cursor', state.deliveryCursor);
    } else {
      params.set('limit', String(Math.min(200, Math.max(DELIVERIES_PER_PAGE, state.deliveries.length))));
    }
    const body = await api('GET', '/admin/deliveries?' + params);
    if (seq !== state.deliverySeq) return;
    state.deliveries = append ? state.deliveries.concat(body.deliveries) : body.deliveries;
    state.deliveryCursor = body.cursor || '';
    renderDeliveries();
  }

  function deliveryNotice(message, isError) {
    const p = $('delivery-message');
    p.textContent = message;
    p.className = 'notice' + (isError ? ' is-error' : '');
    p.hidden = false;
  }

  async function retry(id, button) {
    button.disabled = true;
    try {
      await api('POST', '/admin/deliveries/' + encodeURIComponent(id) + '/retry');
    } catch (e) {
      if (e instanceof Unauthorized) return;
      deliveryNotice('Retry failed: ' + e.message, true);
      button.disabled = false;
      return;
    }
    showRetried(id);
    deliveryNotice('Delivery ' + shortID(id) + ' is pending again.', false);
    await refreshAll();
  }

  // showRetried shows a retried delivery as the retry left it, pending and
  // without a Retry button, at once: the refresh that follows takes a round
  // trip, and list answers already on their way predate the retry, so they
  // are dropped. The row may still be the server-rendered one (the first
  // list load has not answered yet), so it is changed in place.
  function showRetried(id) {
    state.deliverySeq++;
    const d = state.deliveries.find((x) => x.responseId === id);
    if (d) d.status = 'pending';
    const tr = Array.from($('deliveries').rows).find((r) => r.dataset.id === id);
    if (!tr) return;
    tr.querySelector('.status').replaceWith(statusEl('pending'));
    const button = tr.querySelector('button[data-action="retry"]');
    if (button) button.remove();
  }

  // ---- Per-session messages dialog ----

  const dialog = { user: '', cursor: '', seq: 0 };

  function messageRow(m) {
    const tr = el('tr');
    let delivery = null;
    if (m.delivery) {
      delivery = el('span');
      delivery.append(statusEl(m.delivery.status), ' ' + plural(m.delivery.attempts, 'attempt'));
      if (m.delivery.lastError) delivery.append(el('div', 'muted', m.delivery.lastError));
    }
    tr.append(
      cell(timeEl(m.timestamp), 'nowrap'),
      cell(dirEl(m.direction)),
      textCell(m.from, 'from'),
      channelCell(m.channelType, m.channelId),
      textCell(m.content, 'content'),
      cell(delivery),
    );
    return tr;
  }

  async function openMessages(user) {
    dialog.user = user;
    dialog.cursor = '';
    dialog.seq++;
    $('messages-user').textContent = user;
    $('messages-rows').replaceChildren();
    $('messages-error').hidden = true;
    $('messages-more').hidden = true;
    $('messages-info').textContent = 'Loading…';
    $('messages-dialog').showModal();
    await loadMessages();
  }

  async function loadMessages() {
    const seq = dialog.seq;
    const params = new URLSearchParams({ limit: String(DIALOG_PAGE) });
    if (dialog.cursor) params.set('cursor', dialog.cursor);
    const more = $('messages-more');
    more.disabled = true;
    let body;
    try {
      body = await api('GET', '/admin/sessions/' + encodeURIComponent(dialog.user) + '/messages?' + params);
    } catch (e) {
      if (!(e instanceof Unauthorized) && seq === dialog.seq) {
        showError('messages-error', e.message);
        $('messages-info').textContent = '';
      }
      return;
    } finally {
      more.disabled = false;
    }
    if (seq !== dialog.seq) return;
    const rows = $('messages-rows');
    for (const m of body.messages) rows.append(messageRow(m));
    dialog.cursor = body.cursor || '';
    more.hidden = !dialog.cursor;
    const n = rows.childElementCount;
    $('messages-info').textContent = n ? plural(n, 'item') + (dialog.cursor ? '' : ', all loaded') : 'No messages';
  }

  // ---- Delete-session dialog ----

  let deleteUser = '';

  function openDelete(user) {
    deleteUser = user;
    $('delete-user').textContent = user;
    $('delete-error').hidden = true;
    $('delete-confirm').disabled = false;
    $('delete-dialog').showModal();
  }

  async function confirmDelete() {
    const button = $('delete-confirm');
    button.disabled = true;
    try {
      await api('DELETE', '/admin/sessions/' + encodeURIComponent(deleteUser));
    } catch (e) {
      if (!(e instanceof Unauthorized)) {
        showError('delete-error', e.message);
        button.disabled = false;
      }
      return;
    }
    $('delete-dialog').close();
    await refreshAll();
  }

  // ---- Store browser ----

  let prefixesLoaded = false;

  async function loadPrefixes() {
    const body = await api('GET', '/admin/kv/prefixes');
    const options = body.prefixes.map((p) => {
      const o = el('option', '', p.prefix + ' (' + p.count + ')');
      o.value = p.prefix;
      return o;
    });
    $('kv-prefix').replaceChildren(...options);
    prefixesLoaded = true;
  }

  function kvError(e) {
    if (!(e instanceof Unauthorized)) $('kv-info').textContent = 'Error: ' + e.message;
  }

  async function browse() {
    const bucket = $('kv-prefix').value;
    const key = $('kv-key').value;
    const params = new URLSearchParams({ prefix: key ? bucket + ',' + key : bucket, limit: $('kv-limit').value });
    $('kv-info').textContent = 'Loading…';
    const body = await api('GET', '/admin/kv?' + params);
    const rows = body.entries.map((e) => {
      const tr = el('tr');
      tr.append(textCell(e.key.join(' / ')), textCell(JSON.stringify(e.value), 'value'));
      return tr;
    });
    $('kv-entries').replaceChildren(...(rows.length ? rows : [emptyRow(2, 'No entries')]));
    $('kv-info').textContent = (body.count === 1 ? '1 entry' : body.count + ' entries') + ' in ' + body.ms + ' ms';
  }

  // ---- Operator views: connections, charts, dead letters, timelines ----

  // ago is how long before now an ISO time was, as admin/ago.go ago says
  // it: keep the two in step.
  function ago(iso) {
    const d = Math.max(0, Date.now() - Date.parse(iso)) / 1000;
    if (d < 60) return 'just now';
    if (d < 3600) return Math.floor(d / 60) + ' min ago';
    if (d < 48 * 3600) return Math.floor(d / 3600) + ' h ago';
    return Math.floor(d / 86400) + ' d ago';
  }

  function lastMessage(iso) {
    return typeof iso === 'string' && iso ? 'last message ' + ago(iso) : '';
  }

  // connectionLine and pollerLine describe a socket and a session's polling
  // as admin/dashboard_ops.go does: keep them in step.
  function connectionLine(c) {
    let text = '#' + c.id + ' · ' + (c.node ? 'node ' + c.node + ' · ' : '') + c.remoteAddr;
    if (c.state === 'closed') {
      text += ' · closed ' + when(c.closedAt) + ' · ' + c.closeCode;
      if (c.closeReason) text += ' ' + c.closeReason;
      else if (c.closeCode === 1006) text += ' dropped';
      if (c.closedBy) text += ' · by ' + c.closedBy;
    } else {
      text += ' · since ' + when(c.connectedAt) + ' · cursor ' + when(c.cursor) + (c.replaying ? ' · replaying' : ' · lag ' + c.lag);
    }
    return { state: c.state, text, title: c.userAgent };
  }

  function pollerLine(p) {
    const text = (p.node ? 'node ' + p.node + ' · ' : '') + p.remoteAddr + ' · last poll ' + when(p.lastPoll) +
      ' · cursor ' + when(p.cursor) + ' · ' + plural(p.polls, 'poll');
    return { state: 'polls', text, title: p.userAgent };
  }

  function connList(lines) {
    const ul = el('ul', 'session-conns');
    for (const l of lines) {
      const li = el('li', 'conn conn-' + l.state);
      li.title = l.title;
      li.append(el('span', 'conn-state', l.state), ' ', el('span', 'conn-text', l.text));
      ul.append(li);
    }
    return ul;
  }

  // refreshConnections reads the sockets and polling of the sessions on the
  // page (a page of sessions, not every socket of the relay).
  async function refreshConnections() {
    const seq = ++state.connSeq;
    const users = visibleSessions().map((s) => s.userId);
    if (!users.length) return;
    const body = await api('GET', '/admin/connections?' + new URLSearchParams(users.map((u) => ['userId', u])));
    if (seq !== state.connSeq) return;
    const conns = new Map(users.map((u) => [u, []]));
    for (const c of body.connections) conns.get(c.userId)?.push(connectionLine(c));
    for (const p of body.pollers) conns.get(p.userId)?.push(pollerLine(p));
    state.conns = conns;
    renderSessions();
  }

  // The charts are drawn by the server (/admin/charts): the script only puts
  // the new paths and numbers in place.
  async function refreshCharts() {
    const body = await api('GET', '/admin/charts');
    for (const w of body.windows) {
      for (const c of w.charts) {
        const fig = $('chart-' + w.name + '-' + c.id);
        if (!fig) continue;
        fig.querySelector('.chart-max').textContent = c.max;
        for (const s of c.series) {
          const path = fig.querySelector('path[data-series="' + s.name + '"]');
          if (path) path.setAttribute('d', s.path);
          const key = fig.querySelector('.chart-key[data-series="' + s.name + '"] .chart-summary');
          if (key) key.textContent = s.summary;
        }
      }
    }
  }

  function connError(e) {
    if (!(e instanceof Unauthorized)) $('refresh-state').textContent = 'Refresh failed: ' + e.message;
  }

  function showWindow(name) {
    for (const b of $('chart-window').querySelectorAll('button[data-window]')) {
      const on = b.dataset.window === name;
      b.setAttribute('aria-pressed', String(on));
      b.className = 'small' + (on ? '' : ' secondary');
    }
    for (const d of document.querySelectorAll('.charts[data-window]')) d.hidden = d.dataset.window !== name;
  }

  function deadRow(d) {
    const tr = el('tr');
    tr.dataset.id = d.responseId;
    const retryOne = el('button', 'small', 'Retry');
    retryOne.type = 'button';
    retryOne.dataset.action = 'retry';
    retryOne.dataset.id = d.responseId;
    const retryAll = el('button', 'small secondary', 'Retry channel');
    retryAll.type = 'button';
    retryAll.dataset.action = 'retry-channel';
    retryAll.dataset.channel = d.channelId;
    const actions = el('td', 'nowrap');
    actions.append(retryOne, ' ', retryAll);
    tr.append(
      cell(timeEl(d.updatedAt), 'nowrap'),
      cell(idEl(d.responseId, 'mono'), 'nowrap'),
      channelCell(d.channelType, d.channelId),
      textCell(d.attempts, 'num'),
      textCell(d.lastError || '', 'content'),
      actions,
    );
    return tr;
  }

  function renderDeadLetters() {
    const rows = state.deadLetters.map(deadRow);
    $('dead-letters').replaceChildren(...(rows.length ? rows : [emptyRow(6, 'No failed deliveries')]));
    $('dead-more').hidden = !state.deadCursor;
  }

  async function loadDeadLetters(append) {
    const seq = append ? state.deadSeq : ++state.deadSeq;
    const params = new URLSearchParams();
    for (const [name, id] of [['channelType', 'dead-type'], ['channelId', 'dead-channel'], ['error', 'dead-error']]) {
      const v = $(id).value.trim();
      if (v) params.set(name, v);
    }
    params.set('limit', String(append ? DELIVERIES_PER_PAGE : Math.min(200, Math.max(DELIVERIES_PER_PAGE, state.deadLetters.length))));
    if (append) params.set('cursor', state.deadCursor);
    const body = await api('GET', '/admin/dead-letters?' + params);
    if (seq !== state.deadSeq) return;
    state.deadLetters = append ? state.deadLetters.concat(body.deliveries) : body.deliveries;
    state.deadCursor = body.cursor || '';
    renderDeadLetters();
  }

  function deadNotice(message, isError) {
    const p = $('dead-message');
    p.textContent = message;
    p.className = 'notice' + (isError ? ' is-error' : '');
    p.hidden = false;
  }

  function deadError(e) {
    if (!(e instanceof Unauthorized)) deadNotice(e.message, true);
  }

  async function deadAction(b) {
    b.disabled = true;
    try {
      if (b.dataset.action === 'retry') {
        await api('POST', '/admin/deliveries/' + encodeURIComponent(b.dataset.id) + '/retry');
        deadNotice('Delivery ' + shortID(b.dataset.id) + ' is pending again.', false);
      } else {
        const r = await api('POST', '/admin/channels/' + encodeURIComponent(b.dataset.channel) + '/retry');
        const n = r.retried;
        deadNotice((n === 1 ? '1 failed delivery' : n + ' failed deliveries') + ' of channel ' + shortID(r.channelId) +
          (n === 1 ? ' is' : ' are') + ' pending again.', false);
      }
    } catch (e) {
      if (e instanceof Unauthorized) return;
      deadNotice('Retry failed: ' + e.message, true);
      b.disabled = false;
      return;
    }
    state.deadSeq++; // answers on their way predate the retry
    await refreshAll();
  }

  function timelineButton(id) {
    const b = el('button', 'small secondary', 'Timeline');
    b.type = 'button';
    b.dataset.action = 'timeline';
    b.dataset.id = id;
    return b;
  }

  const timeline = { seq: 0 };

  async function openTimeline(id) {
    const seq = ++timeline.seq;
    $('timeline-id').replaceChildren(idEl(id, 'mono'));
    $('timeline-error').hidden = true;
    $('timeline-body').replaceChildren(el('p', 'muted', 'Loading…'));
    const d = $('timeline-dialog');
    if (!d.open) d.showModal();
    let m;
    try {
      m = await api('GET', '/admin/messages/' + encodeURIComponent(id));
    } catch (e) {
      if (!(e instanceof Unauthorized) && seq === timeline.seq) {
        $('timeline-body').replaceChildren();
        showError('timeline-error', e.message);
      }
      return;
    }
    if (seq === timeline.seq) $('timeline-body').replaceChildren(...timelineEls(m));
  }

  // step is one line of a timeline: a time and what happened.
  function step(iso, cls, ...what) {
    const li = el('li', 'step ' + cls);
    li.append(timeEl(iso), ' ');
    const text = el('span', 'step-text');
    text.append(...what);
    li.append(text);
    return li;
  }

  function timelineEls(m) {
    const head = el('p', 'timeline-head');
    head.append(m.channelType + ' ', idEl(m.channelId, 'mono muted'), ' · from ', el('span', 'from', m.from),
      ' · ' + m.size + ' bytes' + (m.providerId ? ' · ' + m.providerId.name + ' ' + m.providerId.value : ''));
    const content = el('p', 'timeline-content', m.content);
    const steps = [];
    if (m.ingest) {
      steps.push(step(m.ingest.received, 'step-in', 'received'));
      steps.push(step(m.ingest.stored, 'step-in', 'stored (' + m.ingest.latencyMs + ' ms)'));
    } else {
      steps.push(step(m.timestamp, 'step-in', 'received and stored'));
    }
    for (const w of m.writes) {
      steps.push(step(w.at, 'step-out', 'written to socket #' + w.connection.id + ' · ' + w.connection.remoteAddr +
        (w.connection.node ? ' · node ' + w.connection.node : '')));
    }
    for (const f of m.fetches) steps.push(step(f.at, 'step-out', 'fetched by a poll from ' + f.remoteAddr + (f.node ? ' · node ' + f.node : '')));
    for (const r of m.replies) {
      const what = [el('span', 'dir dir-out', 'reply'), ' ', idEl(r.id, 'mono'), ' ', el('span', 'content', r.content)];
      if (r.delivery) what.push(' ', statusEl(r.delivery.status));
      steps.push(step(r.timestamp, 'step-reply', ...what));
      for (const a of (r.delivery && r.delivery.history) || []) {
        let text = 'attempt ' + a.number + ': ' + a.result + (a.error ? ' — ' + a.error : '');
        if (a.nextAttemptAt) text += ' · next attempt ' + when(a.nextAttemptAt);
        steps.push(step(a.at, 'step-attempt step-' + a.result, text));
      }
    }
    steps.sort((a, b) => a.querySelector('time').dateTime.localeCompare(b.querySelector('time').dateTime));
    const ol = el('ol', 'timeline');
    ol.append(...steps);
    const out = [head, content, ol];
    if (!m.writes.length && !m.fetches.length) {
      out.push(el('p', 'muted', 'No socket write or poll of this message is remembered (they are kept in memory, for recent messages).'));
    }
    return out;
  }

  function wireOps() {
    $('chart-window').addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-window]');
      if (b) showWindow(b.dataset.window);
    });
    let deadTimer = 0;
    const reloadDead = () => {
      clearTimeout(deadTimer);
      deadTimer = setTimeout(() => {
        state.deadLetters = [];
        loadDeadLetters(false).catch(deadError);
      }, 250);
    };
    $('dead-type').addEventListener('change', reloadDead);
    $('dead-channel').addEventListener('input', reloadDead);
    $('dead-error').addEventListener('input', reloadDead);
    $('dead-filter').addEventListener('submit', (ev) => ev.preventDefault());
    $('dead-more').addEventListener('click', () => loadDeadLetters(true).catch(deadError));
    $('dead-letters').addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-action]');
      if (b) deadAction(b);
    });
    $('recent').addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-action="timeline"]');
      if (b) openTimeline(b.dataset.id);
    });
    $('timeline-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const id = $('timeline-input').value.trim();
      if (id) openTimeline(id);
    });
  }

  // ---- Wiring ----

  function start() {
    $('refresh').addEventListener('click', refreshAll);
    document.addEventListener('copy', copyFullID);
    $('session-filter').addEventListener('input', (ev) => {
      state.sessionFilter = ev.target.value;
      state.sessionPage = 0;
      renderSessions();
    });
    $('recent-filter').addEventListener('input', (ev) => {
      state.recentFilter = ev.target.value;
      state.recentPage = 0;
      renderRecent();
    });
    $('sessions-pager').addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-page]');
      if (b) sessionsPage(b.dataset.page === 'next' ? 1 : -1);
    });
    $('recent-pager').addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-page]');
      if (!b) return;
      state.recentPage += b.dataset.page === 'next' ? 1 : -1;
      renderRecent();
    });
    $('sessions').addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-action]');
      if (!b) return;
      if (b.dataset.action === 'messages') openMessages(b.dataset.user);
      else if (b.dataset.action === 'delete') openDelete(b.dataset.user);
    });
    $('deliveries').addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-action="retry"]');
      if (b) retry(b.dataset.id, b);
    });
    $('delivery-status').addEventListener('change', (ev) => {
      state.deliveryStatus = ev.target.value;
      state.deliveries = [];
      loadDeliveries(false).catch(deliveryError);
    });
    $('deliveries-more').addEventListener('click', () => loadDeliveries(true).catch(deliveryError));
    $('messages-more').addEventListener('click', loadMessages);
    $('delete-confirm').addEventListener('click', confirmDelete);
    for (const b of document.querySelectorAll('dialog [data-close]')) {
      b.addEventListener('click', () => b.closest('dialog').close());
    }
    $('kv-panel').addEventListener('toggle', () => {
      if ($('kv-panel').open && !prefixesLoaded) loadPrefixes().catch(kvError);
    });
    $('kv-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      browse().catch(kvError);
    });
    wireOps();
    refreshAll();
    setInterval(refreshAll, REFRESH_MS);
  }

  function deliveryError(e) {
    if (!(e instanceof Unauthorized)) deliveryNotice(e.message, true);
  }

  start();
})();
