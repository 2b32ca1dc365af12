// The dashboard page: receives snapshots over Server-Sent Events (/api/events) and renders them.
// Plain DOM, no framework; text goes in through textContent only (dead letter reasons and
// client ids are not markup).
'use strict';

(function () {
  const byId = (id) => document.getElementById(id);

  /** el('td', { class: 'num', data: { topic: t } }, 'text', child, ...) */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'data') for (const [dk, dv] of Object.entries(v)) node.dataset[dk] = String(dv);
      else if (k === 'class') node.className = v;
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  const num = (v) => (v === null || v === undefined ? '–' : Number(v).toLocaleString('en-US'));
  const rate = (v) => (v === null || v === undefined ? '–' : v < 10 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US'));
  const td = (v, cls) => el('td', { class: cls }, v);

  function bar(done, total) {
    const pct = total > 0 ? Math.min(100, Math.round((done / total) * 100)) : 0;
    return el('span', { class: 'bar', title: `${done} of ${total}` }, el('span', { class: done >= total && total > 0 ? 'fill full' : 'fill', style: `width:${pct}%` }));
  }

  function setConnection(state) {
    const c = byId('connection');
    c.textContent = state;
    c.className = `badge ${state === 'live' ? 'ok' : 'warn'}`;
  }

  // ------------------------------------------------------------------ health
  function check(name, c) {
    if (c === null) return el('span', { class: 'badge', data: { check: name } }, `${name}: not configured`);
    const latency = c.latencyMs === null ? '' : ` (${c.latencyMs} ms)`;
    return el('span', { class: `badge ${c.ok ? 'ok' : 'bad'}`, data: { check: name, ok: c.ok }, title: c.detail }, `${name}: ${c.ok ? 'ok' : 'down'}${latency} — ${c.detail}`);
  }

  function stateClass(state) {
    if (state === 'Stable') return 'ok';
    if (state === 'Empty' || state.endsWith('Rebalance')) return 'warn';
    return 'bad';
  }

  function renderHealth(h) {
    byId('checks').replaceChildren(check('kafka', h.kafka), check('redis', h.redis), check('core', h.core ? { ...h.core, detail: `${h.core.url} ${h.core.detail}` } : null));
    const shown = h.groups.filter((g) => g.topicExists);
    const rows = shown.map((g) =>
      el(
        'tr',
        { data: { group: g.group, state: g.state } },
        td(g.proverGroup === null ? 'gateway' : g.proverGroup),
        td(g.pair === 'batches' || g.pair === 'final-proofs' ? g.label : `${g.pair} ${g.label}`),
        td(g.group, 'mono'),
        el('td', {}, el('span', { class: `badge ${stateClass(g.state)}` }, g.state)),
        td(g.members.length, 'num'),
        td(g.members.map((m) => `${m.clientId} @ ${m.host} [${m.partitions}]`).join(', '), 'mono small'),
      ),
    );
    byId('groups-table').tBodies[0].replaceChildren(...rows);
    const hidden = h.groups.length - shown.length;
    byId('groups-note').textContent = hidden > 0 ? `${hidden} consumer groups of pairs without topics in this version are not shown.` : '';
  }

  // ------------------------------------------------------------------ scaling
  function renderScaling(s) {
    if (!s) return;
    byId('lag-threshold').textContent = s.lagThreshold;
    const rows = s.proverGroups.map((p) =>
      el('tr', { data: { proverGroup: p.proverGroup, replicas: p.replicas } }, td(p.proverGroup), td(num(p.lag), 'num'), el('td', { class: 'num replicas' }, String(p.replicas))),
    );
    byId('scaling-table').tBodies[0].replaceChildren(...rows);
  }

  // ------------------------------------------------------------------ topics
  function renderTopics(topics) {
    const rows = topics.map((t) =>
      el(
        'tr',
        { class: `kind-${t.kind}`, data: { topic: t.topic, kind: t.kind, pair: t.pair || '' } },
        td(t.topic, 'mono'),
        td(t.label),
        td(t.partitions, 'num'),
        td(num(t.end), 'num'),
        td(num(t.committed), 'num'),
        el('td', { class: `num lag${t.lag > 0 ? ' busy' : ''}` }, num(t.lag)),
        td(num(t.offsetLag), 'num'),
        td(rate(t.producedPerS), 'num rate-in'),
        td(rate(t.consumedPerS), 'num rate-out'),
        td(t.groupState || '–'),
        td(t.members === null ? '–' : t.members, 'num'),
        td(t.replicas === null ? '–' : t.replicas, 'num replicas'),
      ),
    );
    byId('topics-table').tBodies[0].replaceChildren(...rows);
  }

  // ------------------------------------------------------------------ batches
  // The operator's open/closed choices survive re-rendering; by default an unfinished batch is open.
  const openState = new Map();

  function details(key, defaultOpen, summary, body) {
    const d = el('details', { open: openState.has(key) ? openState.get(key) : defaultOpen }, el('summary', {}, summary), body);
    d.addEventListener('toggle', () => openState.set(key, d.open));
    return d;
  }

  function coreBadge(core) {
    if (core === null) return el('span', { class: 'badge core-state', data: { state: 'unknown' } }, 'core: not asked');
    if ('error' in core) return el('span', { class: 'badge bad core-state', data: { state: 'error' }, title: core.error }, 'core: unreachable');
    return el('span', { class: `badge core-state ${core.accepted ? 'ok' : ''}`, data: { state: core.state, accepted: core.accepted } }, `core: ${core.state}${core.accepted ? ' (accepted)' : ''}`);
  }

  function renderBatch(b) {
    const rounds = b.rounds.map((r) => {
      const circuits = r.circuits.map((c) =>
        el('li', { data: { circuit: c.circuitId, done: c.done, total: c.total } }, el('span', { class: 'name' }, `c${c.circuitId} ${c.label}`), bar(c.done, c.total), el('span', { class: 'count' }, `${c.done}/${c.total}`), c.ready > c.done ? el('span', { class: 'small' }, ` (${c.ready - c.done} in flight)`) : null),
      );
      return el(
        'li',
        { data: { round: r.round, done: r.done, total: r.total } },
        details(`${b.key}/r${r.round}`, false, [el('span', { class: 'name' }, `${r.round} ${r.name}`), bar(r.done, r.total), el('span', { class: 'count' }, `${r.done}/${r.total}`)], el('ul', {}, circuits)),
      );
    });
    const settled = b.complete && b.core !== null && !('error' in b.core) && b.core.accepted;
    const summary = [
      el('strong', {}, `batch ${b.batch}`),
      b.run > 0 ? ` run ${b.run}` : '',
      ' ',
      bar(b.doneJobs, b.totalJobs || 0),
      el('span', { class: 'count' }, `${num(b.doneJobs)}/${num(b.totalJobs)} jobs`),
      el('span', { class: `badge ${b.complete ? 'ok' : ''} progress-state` }, b.complete ? 'final proof stored' : b.totalJobs === null ? 'no plan' : `${b.waitingGroups} groups waiting`),
      coreBadge(b.core),
    ];
    return el('li', { data: { batch: b.batch, run: b.run, key: b.key, complete: b.complete } }, details(b.key, !settled, summary, el('ul', {}, rounds)));
  }

  function renderBatches(batches) {
    const tree = byId('batch-tree');
    tree.replaceChildren(...(batches.length > 0 ? batches.map(renderBatch) : [el('li', { class: 'note' }, 'no batch-runs registered for this version')]));
  }

  // ------------------------------------------------------------------ dead letters
  function renderDeadLetters(d) {
    if (!d) return;
    byId('dead-letter-count').textContent = `${d.total}${d.complete ? '' : ' (topic not read to its end)'}`;
    const rows = d.rows
      .slice()
      .reverse()
      .map((r) =>
        el('tr', { data: { jobId: r.jobId || '', kind: r.kind } }, td(r.time.replace('T', ' ').replace('Z', ''), 'mono small'), td(r.batch === null ? '–' : r.batch, 'num'), td(r.jobId || '–', 'mono small'), td(r.stage), td(r.kind), td(r.attempts, 'num'), td(r.reason, 'small')),
      );
    byId('dead-letter-table').tBodies[0].replaceChildren(...(rows.length > 0 ? rows : [el('tr', {}, el('td', { colspan: 7, class: 'note' }, 'none'))]));
  }

  function renderErrors(errors) {
    const box = byId('errors');
    const entries = Object.entries(errors);
    box.hidden = entries.length === 0;
    box.replaceChildren(...entries.map(([part, msg]) => el('div', { data: { part } }, `${part}: ${msg}`)));
  }

  function render(s) {
    byId('version').textContent = s.version;
    document.title = `Prover pipeline ${s.version}`;
    byId('updated').textContent = `updated ${new Date(s.takenAtMs).toLocaleTimeString()} (#${s.sequence}, took ${s.tookMs} ms)`;
    document.body.dataset.sequence = s.sequence;
    renderErrors(s.errors);
    renderHealth(s.health);
    renderScaling(s.scaling);
    if (!s.errors.topics) renderTopics(s.topics);
    if (!s.errors.batches) renderBatches(s.batches);
    renderDeadLetters(s.deadLetters);
  }

  const events = new EventSource('api/events');
  events.addEventListener('snapshot', (e) => {
    setConnection('live');
    render(JSON.parse(e.data));
  });
  events.addEventListener('open', () => setConnection('live'));
  events.addEventListener('error', () => setConnection('reconnecting'));
})();
