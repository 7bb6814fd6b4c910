// Drover's dashboard: plain JavaScript, no library, no build step. The state comes from one
// server-sent event stream (/ui/events): a snapshot, then batches of changed objects at most
// every 250 ms. Actions go to the coordinator's API with the page's CSRF value. The Queues page
// is the one exception to "no polling": brokers push nothing, so while it is open it reads
// /ui/queues every QUEUES_POLL ms (the coordinator caches the brokers' answers for 2 s).
'use strict';
(() => {
  const csrf = document.querySelector('meta[name="drover-csrf"]').content;
  const loginMode = document.querySelector('meta[name="drover-login"]').content === '1';
  const NS = '/apis/batch/v1/namespaces/default';
  const WORKERS = '/apis/drover.dev/v1/workers';
  const JOB_NAME = 'batch.kubernetes.io/job-name';
  const PAGE_SIZE = 50;
  const HISTORY = 300; // seconds of rate samples
  const QUEUES_POLL = 3000;

  const state = {
    jobs: new Map(), cronjobs: new Map(), workers: new Map(), pods: new Map(),
    stats: null, skew: 0, podsJob: null, connected: false,
    samples: [], // {t, finished, tasks}
  };
  const view = { page: 'overview', arg: null, jobsPage: 0, status: 'all', labels: '', search: '', logPod: null };
  let source = null;
  let renderQueued = false;
  let logAbort = null;
  let eventsTimer = null;
  let lastEventsFetch = 0;
  let queuesTimer = null;
  let queuesData = null; // the last answer of /ui/queues
  let queuesError = '';

  // ---- helpers ----
  const $ = (sel, root = document) => root.querySelector(sel);
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  const now = () => Date.now() + state.skew;
  const ts = (s) => (s ? Date.parse(s) : NaN);
  function human(ms) {
    if (!Number.isFinite(ms)) return '';
    let s = Math.max(0, Math.floor(ms / 1000));
    if (s < 120) return s + 's';
    let m = Math.floor(s / 60); s %= 60;
    if (m < 10) return m + 'm' + (s ? s + 's' : '');
    if (m < 180) return m + 'm';
    let h = Math.floor(m / 60); m %= 60;
    if (h < 8) return h + 'h' + (m ? m + 'm' : '');
    if (h < 48) return h + 'h';
    const d = Math.floor(h / 24); h %= 24;
    return d + 'd' + (d < 8 && h ? h + 'h' : '');
  }
  const age = (o) => human(now() - ts(o.metadata && o.metadata.creationTimestamp));
  const fmt = (n) => Number(n || 0).toLocaleString('en-US');
  // A timestamp to the second, in UTC (the API's own form, without the fraction).
  const isoSec = (t) => (t ? String(t).replace(/\.\d+Z$/, 'Z').replace('T', ' ') : '');
  const cond = (o, type) => ((o.status && o.status.conditions) || []).find((c) => c.type === type && c.status === 'True');
  function status(text, cls) { return el('span', { class: 'status ' + cls, text }); }

  // ---- Jobs ----
  function jobStatus(j) {
    if (cond(j, 'Complete')) return ['Complete', 's-ok'];
    if (cond(j, 'Failed')) return ['Failed', 's-bad'];
    if (j.metadata.deletionTimestamp) return ['Terminating', 's-off'];
    if (cond(j, 'Suspended') || (j.spec && j.spec.suspend)) return ['Suspended', 's-pause'];
    if (cond(j, 'FailureTarget')) return ['FailureTarget', 's-bad'];
    const st = j.status || {};
    if ((st.active || 0) > 0 && !(st.ready > 0) && !(st.succeeded > 0) && !(st.failed > 0)) return ['Pending', 's-wait'];
    return ['Running', 's-run'];
  }
  function completions(j) {
    const ok = (j.status && j.status.succeeded) || 0;
    const c = j.spec && j.spec.completions;
    if (c !== undefined && c !== null) return { text: ok + '/' + c, done: ok, of: c };
    const p = (j.spec && j.spec.parallelism) || 0;
    const finished = !!cond(j, 'Complete');
    return { text: p > 1 ? ok + '/1 of ' + p : ok + '/1', done: finished ? 1 : 0, of: 1 };
  }
  function duration(j) {
    const st = j.status || {};
    if (!st.startTime) return '';
    return human((st.completionTime ? ts(st.completionTime) : now()) - ts(st.startTime));
  }
  function tasks(j) {
    const t = j.status && j.status.tasks;
    if (!t) return '';
    return fmt(t.succeeded) + ' ok, ' + fmt(t.failed) + ' failed, ' + fmt(t.requeued) + ' requeued';
  }
  function progress(j) {
    const c = completions(j);
    const pct = c.of > 0 ? Math.min(100, (100 * c.done) / c.of) : 0;
    const failed = !!cond(j, 'Failed');
    const fill = el('span');
    fill.style.width = pct + '%';
    return el('div', { class: 'progress' },
      el('div', { class: 'bar' + (failed ? ' failed' : ''), role: 'progressbar', 'aria-valuemin': 0,
        'aria-valuemax': c.of, 'aria-valuenow': Math.min(c.done, c.of), 'aria-label': 'Completions of ' + j.metadata.name }, fill),
      el('span', { class: 'completions', text: c.text }));
  }

  // ---- pods ----
  function podState(p) {
    const st = p.status || {};
    const cs = (st.containerStatuses || [])[0];
    const waiting = cs && cs.state && cs.state.waiting;
    const term = cs && cs.state && cs.state.terminated;
    // Init containers, as kubectl reads them: the first one not done names the state.
    const inits = st.initContainerStatuses || [];
    const done = (s) => s.state && s.state.terminated && s.state.terminated.exitCode === 0;
    const initAt = inits.findIndex((s) => !done(s));
    const init = initAt >= 0 ? inits[initAt].state || {} : null;
    const initFailed = init && init.terminated;
    if (p.metadata.deletionTimestamp && st.phase !== 'Succeeded' && st.phase !== 'Failed') return ['Terminating', 's-off', 'run'];
    if (st.phase === 'Succeeded') return ['Succeeded', 's-ok', 'ok'];
    if (st.phase === 'Failed') {
      const why = st.reason || (initFailed ? 'Init:' + (initFailed.reason || 'Error') : term && term.reason);
      return ['Failed' + (why ? ' (' + why + ')' : ''), 's-bad', 'bad'];
    }
    if (!p.spec.nodeName) {
      const pos = state.stats && state.stats.positions && state.stats.positions[p.metadata.name];
      return ['Waiting for a slot' + (pos ? ' (#' + pos + ' in line)' : ''), 's-wait', 'wait'];
    }
    if (st.phase === 'Pending' && init && (init.running || (init.waiting && init.waiting.reason !== 'PodInitializing'))) {
      const what = init.running ? 'Initializing (' + initAt + '/' + inits.length + ')' : 'Init:' + init.waiting.reason;
      return [what + ' on ' + p.spec.nodeName, 's-wait', 'wait'];
    }
    if (st.phase === 'Pending') return ['Starting on ' + p.spec.nodeName, 's-wait', 'wait'];
    if (waiting && waiting.reason === 'WaitingForTask') return ['Waiting for a task', 's-wait', 'wait'];
    if (waiting && waiting.reason) return [waiting.reason, 's-wait', 'wait'];
    return ['Running', 's-run', 'run'];
  }
  function podTimes(p) {
    const st = p.status || {};
    const cs = (st.containerStatuses || [])[0];
    const term = cs && cs.state && cs.state.terminated;
    const start = ts(st.startTime) || ts(p.metadata.creationTimestamp);
    let end = term && term.finishedAt ? ts(term.finishedAt) : NaN;
    if (!Number.isFinite(end) && (st.phase === 'Succeeded' || st.phase === 'Failed')) {
      const c = (st.conditions || []).map((x) => ts(x.lastTransitionTime)).filter(Number.isFinite);
      end = c.length ? Math.max(...c) : start;
    }
    return { start, end };
  }

  // ---- workers ----
  // The worker's pods holding a slot (Pending or Running), as the coordinator counts them.
  function busy(w) {
    const counts = state.stats && state.stats.workerPods;
    if (counts && w.metadata.name in counts) return counts[w.metadata.name];
    return (w.status && w.status.running) || 0;
  }
  function workerStatus(w) {
    const ph = (w.status && w.status.phase) || 'Unknown';
    const cls = { Ready: 's-ok', Cordoned: 's-pause', Draining: 's-wait', Lost: 's-bad' }[ph] || 's-off';
    if (w.spec && w.spec.unschedulable && ph === 'Ready') return ['Ready, SchedulingDisabled', 's-pause'];
    return [ph, cls];
  }

  // ---- the event stream ----
  function applyObject(map, kind, type, name, obj, extra) {
    if (type === 'DELETED' || !obj) { map.delete(name); return; }
    if (kind === 'CronJob') { map.set(name, { o: obj, x: extra }); return; }
    if (kind === 'Pod' && state.podsJob !== (obj.metadata.labels || {})[JOB_NAME]) return;
    map.set(name, obj);
  }
  function mapOf(kind) {
    return { Job: state.jobs, CronJob: state.cronjobs, Worker: state.workers, Pod: state.pods }[kind];
  }
  function onSnapshot(d) {
    state.jobs = new Map(d.jobs.map((o) => [o.metadata.name, o]));
    state.cronjobs = new Map(d.cronjobs.map((e) => [e.o.metadata.name, e]));
    state.workers = new Map(d.workers.map((o) => [o.metadata.name, o]));
    state.pods = new Map(d.pods.map((o) => [o.metadata.name, o]));
    state.stats = d.stats;
    state.skew = ts(d.now) - Date.now();
    // A snapshot may jump the counters (a first load, a reconnection): no rate across it.
    sample(true);
    scheduleRender();
  }
  function onBatch(d) {
    for (const c of d.changes) {
      const map = mapOf(c.k);
      if (map) applyObject(map, c.k, c.t, c.n, c.o, c.x);
      if (c.k === 'Job' && view.page === 'job' && c.n === view.arg) refreshEventsSoon();
    }
    if (d.stats) state.stats = d.stats;
    state.skew = ts(d.now) - Date.now();
    scheduleRender();
  }
  function connect() {
    const job = view.page === 'job' ? view.arg : null;
    if (source && state.podsJob === job) return;
    if (source) source.close();
    state.podsJob = job;
    state.pods = new Map();
    source = new EventSource('/ui/events' + (job ? '?job=' + encodeURIComponent(job) : ''));
    source.addEventListener('snapshot', (e) => { setLive(true); onSnapshot(JSON.parse(e.data)); });
    source.addEventListener('batch', (e) => onBatch(JSON.parse(e.data)));
    source.addEventListener('error', () => {
      setLive(false);
      // A stream refused for want of a session: back to the login form.
      fetch(WORKERS + '?limit=1', { credentials: 'same-origin' }).then((r) => {
        if (r.status === 401) location.assign('/login');
      }).catch(() => {});
    });
  }
  function setLive(up) {
    state.connected = up;
    $('#live').textContent = up ? '● Live' : '○ Reconnecting…';
  }

  // ---- actions ----
  function notice(text, ok) {
    const n = $('#notice');
    n.textContent = text;
    n.className = 'notice' + (ok ? ' info' : '');
    n.hidden = !text;
  }
  async function api(method, path, body, contentType) {
    const headers = { 'X-Drover-CSRF': csrf, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = contentType || 'application/json';
    const r = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
    if (r.status === 401) { location.assign('/login'); throw new Error('not logged in'); }
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
    if (!r.ok) throw new Error((data && data.message) || r.status + ' ' + r.statusText);
    return data;
  }
  function confirmAction(title, text, okLabel) {
    const d = $('#confirm');
    $('#confirm-title').textContent = title;
    $('#confirm-text').textContent = text;
    $('#confirm-ok').textContent = okLabel;
    d.returnValue = '';
    return new Promise((resolve) => {
      d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
      d.showModal();
      $('#confirm-cancel').focus();
    });
  }
  async function act(title, text, okLabel, fn, done) {
    // The button may be re-rendered while the dialog is open: give the focus back to its
    // successor (same data-key) when the dialog closes.
    const key = document.activeElement && document.activeElement.getAttribute('data-key');
    const ok = await confirmAction(title, text, okLabel);
    const back = key && document.querySelector('[data-key="' + CSS.escape(key) + '"]');
    if (back) back.focus();
    if (!ok) return;
    try {
      await fn();
      notice(done, true);
    } catch (e) {
      notice(title + ' failed: ' + e.message, false);
    }
  }
  const merge = (suspend) => ({ spec: { suspend } });
  const suspendJob = (n, s) => act((s ? 'Suspend' : 'Resume') + ' Job ' + n,
    s ? 'Its running pods are stopped; it starts again when resumed.' : 'Its pods start again.',
    s ? 'Suspend' : 'Resume',
    () => api('PATCH', NS + '/jobs/' + encodeURIComponent(n), merge(s), 'application/merge-patch+json'),
    'Job ' + n + (s ? ' suspended.' : ' resumed.'));
  const deleteJob = (n) => act('Delete Job ' + n, 'The Job and its pods are deleted. This cannot be undone.', 'Delete',
    async () => { await api('DELETE', NS + '/jobs/' + encodeURIComponent(n) + '?propagationPolicy=Background'); location.hash = '#/jobs'; },
    'Job ' + n + ' deleted.');
  const suspendCron = (n, s) => act((s ? 'Suspend' : 'Resume') + ' CronJob ' + n,
    s ? 'No new Jobs start until it is resumed; running Jobs go on.' : 'Its schedule runs again.',
    s ? 'Suspend' : 'Resume',
    () => api('PATCH', NS + '/cronjobs/' + encodeURIComponent(n), merge(s), 'application/merge-patch+json'),
    'CronJob ' + n + (s ? ' suspended.' : ' resumed.'));
  const runNow = (n) => act('Run CronJob ' + n + ' now', 'A Job is created from its template now (as `drover create job --from=cronjob/' + n + '`).', 'Run now',
    async () => {
      const cj = await api('GET', NS + '/cronjobs/' + encodeURIComponent(n));
      const t = cj.spec.jobTemplate || {};
      const meta = t.metadata || {};
      const suffix = Math.random().toString(36).slice(2, 7).padEnd(5, '0');
      const job = {
        apiVersion: 'batch/v1', kind: 'Job',
        metadata: {
          name: n.slice(0, 50) + '-manual-' + suffix,
          labels: meta.labels || {},
          annotations: Object.assign({}, meta.annotations || {}, { 'cronjob.kubernetes.io/instantiate': 'manual' }),
          ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: n, uid: cj.metadata.uid, controller: true, blockOwnerDeletion: true }],
        },
        spec: t.spec,
      };
      const made = await api('POST', NS + '/jobs', job);
      notice('Job ' + made.metadata.name + ' created.', true);
    }, 'Job created from CronJob ' + n + '.');
  const workerAction = (n, verb) => {
    const text = {
      cordon: ['Cordon', 'It takes no new pods; its running pods go on.'],
      uncordon: ['Uncordon', 'It takes new pods again.'],
      drain: ['Drain', 'It takes no new pods, finishes or stops its pods within its drain timeout, then leaves.'],
    }[verb];
    return act(text[0] + ' worker ' + n, text[1], text[0],
      () => api('POST', WORKERS + '/' + encodeURIComponent(n) + '/' + verb),
      'Worker ' + n + ': ' + verb + ' requested.');
  };

  // ---- rendering ----
  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => { renderQueued = false; update(); });
  }
  // Re-renders the data of the page, keeping the focus on the element with the same key.
  function replace(container, node) {
    const active = document.activeElement;
    const key = active && container.contains(active) ? active.getAttribute('data-key') : null;
    container.replaceChildren(node);
    if (key) {
      const again = container.querySelector('[data-key="' + CSS.escape(key) + '"]');
      if (again) again.focus();
    }
  }
  function table(caption, headers, rows, empty) {
    return el('table', {},
      el('caption', { text: caption }),
      el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col', class: h.endsWith(' ') ? 'num' : null, text: h.trim() })))),
      el('tbody', {}, rows.length ? rows : [el('tr', {}, el('td', { colspan: headers.length, class: 'muted', text: empty }))]));
  }
  function card(title, pairs, extra) {
    return el('section', { class: 'card', 'aria-label': title },
      el('h2', { text: title }),
      el('dl', {}, pairs.map(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })])),
      extra || null);
  }
  function sparkline(label, values) {
    const w = 300, h = 56;
    const max = Math.max(1, ...values);
    const step = values.length > 1 ? w / (values.length - 1) : w;
    const pts = values.map((v, i) => (i * step).toFixed(1) + ',' + (h - 4 - ((h - 8) * v) / max).toFixed(1)).join(' ');
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('role', 'img');
    const last = values.length ? values[values.length - 1] : 0;
    svg.setAttribute('aria-label', label + ': now ' + last.toFixed(1) + ' per second, peak ' + Math.max(0, ...values).toFixed(1));
    const base = document.createElementNS(svg.namespaceURI, 'line');
    Object.entries({ x1: 0, y1: h - 4, x2: w, y2: h - 4, class: 'base' }).forEach(([k, v]) => base.setAttribute(k, v));
    svg.append(base);
    if (values.length > 1) {
      const line = document.createElementNS(svg.namespaceURI, 'polyline');
      line.setAttribute('points', pts);
      svg.append(line);
    }
    return svg;
  }
  function rates(key) {
    const s = state.samples;
    const out = [];
    for (let i = 1; i < s.length; i++) {
      const dt = (s[i].t - s[i - 1].t) / 1000;
      out.push(dt > 0 && !s[i].reset ? Math.max(0, s[i][key] - s[i - 1][key]) / dt : 0);
    }
    return out;
  }
  function sample(reset) {
    if (!state.connected) return;
    let finished = 0;
    for (const j of state.jobs.values()) finished += ((j.status && j.status.succeeded) || 0) + ((j.status && j.status.failed) || 0);
    const tasksDone = (state.stats && state.stats.tasksRecorded) || 0;
    state.samples.push({ t: Date.now(), finished, tasks: tasksDone, reset: !!reset });
    if (state.samples.length > HISTORY + 1) state.samples.shift();
  }

  function overview(root) {
    const byState = { Running: 0, Pending: 0, Complete: 0, Failed: 0, Suspended: 0, Other: 0 };
    for (const j of state.jobs.values()) {
      const s = jobStatus(j)[0];
      byState[s in byState ? s : 'Other'] += 1;
    }
    const wByState = { Ready: 0, Cordoned: 0, Draining: 0, Lost: 0 };
    let slots = 0, used = 0;
    for (const w of state.workers.values()) {
      const ph = (w.status && w.status.phase) || 'Lost';
      wByState[ph] = (wByState[ph] || 0) + 1;
      if (ph !== 'Lost') { slots += w.spec.slots || 0; used += busy(w); }
    }
    const st = state.stats || { pods: {}, waitingForSlot: 0 };
    const pods = st.pods || {};
    const waiting = st.waitingForSlot || 0;
    const podsRate = rates('finished');
    const tasksRate = rates('tasks');
    const last = (a) => (a.length ? a[a.length - 1] : 0);
    const queues = [...state.jobs.values()].filter((j) => j.spec && j.spec.queue && !cond(j, 'Complete') && !cond(j, 'Failed'));
    replace(root, el('div', {},
      el('div', { class: 'cards' },
        card('Jobs by state', [['Running', fmt(byState.Running)], ['Pending (no pod started)', fmt(byState.Pending)], ['Suspended', fmt(byState.Suspended)], ['Complete', fmt(byState.Complete)], ['Failed', fmt(byState.Failed)], ['Total', fmt(state.jobs.size)]]),
        card('Workers by state', [['Ready', fmt(wByState.Ready)], ['Cordoned', fmt(wByState.Cordoned)], ['Draining', fmt(wByState.Draining)], ['Lost', fmt(wByState.Lost)], ['Slots in use', fmt(used) + ' / ' + fmt(slots)]]),
        card('Pods', [['Running', fmt(pods.Running)], ['Waiting for a slot', fmt(waiting)], ['Starting on a worker', fmt(Math.max(0, (pods.Pending || 0) - waiting))], ['Succeeded', fmt(pods.Succeeded)], ['Failed', fmt(pods.Failed)]]),
        card('Pods finished per second', [['Now', last(podsRate).toFixed(1)], ['Peak (last 5 min)', Math.max(0, ...podsRate).toFixed(1)]], sparkline('Pods finished per second', podsRate)),
        card('Tasks per second', [['Now', last(tasksRate).toFixed(1)], ['Peak (last 5 min)', Math.max(0, ...tasksRate).toFixed(1)], ['Recorded since start', fmt(st.tasksRecorded)]], sparkline('Tasks per second', tasksRate))),
      el('h2', { text: 'Work queues of unfinished Jobs' }),
      table('Tasks as the Jobs count them; what the brokers hold is on the Queues page.', ['Job', 'Queue', 'Broker', 'Tasks ok ', 'Failed ', 'Requeued '],
        queues.map((j) => {
          const t = (j.status && j.status.tasks) || {};
          const url = j.spec.queue.url || '';
          return el('tr', {}, el('td', {}, el('a', { href: '#/jobs/' + encodeURIComponent(j.metadata.name), text: j.metadata.name })),
            el('td', { class: 'mono', text: j.spec.queue.name || '' }),
            el('td', { text: url.startsWith('redis') ? 'Redis' : url.startsWith('amqp') ? 'RabbitMQ' : url.split(':')[0] }),
            el('td', { class: 'num', text: fmt(t.succeeded) }), el('td', { class: 'num', text: fmt(t.failed) }), el('td', { class: 'num', text: fmt(t.requeued) }));
        }), 'No unfinished Job takes its work from a queue.')));
  }

  function labelMatch(labels, selector) {
    if (!selector.trim()) return true;
    return selector.split(',').map((s) => s.trim()).filter(Boolean).every((term) => {
      let m;
      if ((m = term.match(/^([^!=]+)!=(.*)$/))) return labels[m[1].trim()] !== m[2].trim();
      if ((m = term.match(/^([^=]+)==?(.*)$/))) return labels[m[1].trim()] === m[2].trim();
      if (term.startsWith('!')) return !(term.slice(1).trim() in labels);
      return term in labels;
    });
  }
  function jobsShell(root) {
    const statuses = ['all', 'Running', 'Pending', 'Suspended', 'Complete', 'Failed', 'Terminating'];
    const onFilter = () => {
      view.status = $('#f-status').value; view.labels = $('#f-labels').value; view.search = $('#f-name').value;
      view.jobsPage = 0; scheduleRender();
    };
    root.replaceChildren(
      el('h1', { text: 'Jobs' }),
      el('div', { class: 'filters', role: 'search' },
        el('div', {}, el('label', { for: 'f-name', text: 'Name contains' }), el('input', { id: 'f-name', type: 'search', value: view.search, oninput: onFilter })),
        el('div', {}, el('label', { for: 'f-status', text: 'Status' }),
          el('select', { id: 'f-status', onchange: onFilter }, statuses.map((s) => el('option', { value: s, selected: s === view.status, text: s === 'all' ? 'All' : s })))),
        el('div', {}, el('label', { for: 'f-labels', text: 'Label selector' }), el('input', { id: 'f-labels', type: 'text', placeholder: 'app=etl,tier!=test', value: view.labels, oninput: onFilter }))),
      el('div', { id: 'data' }));
  }
  function jobs() {
    const root = $('#data');
    if (!root) return;
    let list = [...state.jobs.values()].filter((j) =>
      (view.status === 'all' || jobStatus(j)[0] === view.status) &&
      (!view.search || j.metadata.name.includes(view.search)) &&
      labelMatch(j.metadata.labels || {}, view.labels));
    list.sort((a, b) => ts(b.metadata.creationTimestamp) - ts(a.metadata.creationTimestamp) || a.metadata.name.localeCompare(b.metadata.name));
    const pages = Math.max(1, Math.ceil(list.length / PAGE_SIZE));
    view.jobsPage = Math.min(view.jobsPage, pages - 1);
    const first = view.jobsPage * PAGE_SIZE;
    const shown = list.slice(first, first + PAGE_SIZE);
    const pager = el('nav', { class: 'pager', 'aria-label': 'Pages of Jobs' },
      el('button', { type: 'button', 'data-key': 'prev', disabled: view.jobsPage === 0, onclick: () => { view.jobsPage -= 1; scheduleRender(); } }, '← Previous'),
      el('span', { text: list.length ? 'Jobs ' + fmt(first + 1) + '–' + fmt(first + shown.length) + ' of ' + fmt(list.length) + ' (page ' + (view.jobsPage + 1) + ' of ' + pages + ')' : 'No Job matches.' }),
      el('button', { type: 'button', 'data-key': 'next', disabled: view.jobsPage >= pages - 1, onclick: () => { view.jobsPage += 1; scheduleRender(); } }, 'Next →'));
    replace(root, el('div', {}, pager, table('Newest first. Completions: succeeded pods of the completions wanted.',
      ['Name', 'Status', 'Completions', 'Tasks', 'Duration ', 'Age '],
      shown.map((j) => {
        const [s, cls] = jobStatus(j);
        const n = j.metadata.name;
        return el('tr', { 'data-job': n },
          el('td', {}, el('a', { href: '#/jobs/' + encodeURIComponent(n), 'data-key': 'job:' + n, text: n })),
          el('td', {}, status(s, cls)),
          el('td', {}, progress(j)),
          el('td', { class: 'tasks', text: tasks(j) }),
          el('td', { class: 'num', text: duration(j) }),
          el('td', { class: 'num', text: age(j) }));
      }), 'No Job matches.')));
  }

  function jobShell(root) {
    root.replaceChildren(el('div', { id: 'data' }), el('section', { 'aria-labelledby': 'log-h' },
      el('h2', { id: 'log-h', text: 'Log' }),
      el('p', { id: 'log-name', class: 'muted', text: 'Choose a pod in the timeline to follow its log.' }),
      el('pre', { id: 'log', class: 'log', tabindex: 0, 'aria-live': 'off', hidden: true })),
    el('section', { 'aria-labelledby': 'ev-h' }, el('h2', { id: 'ev-h', text: 'Events' }), el('div', { id: 'events' })));
    fetchEvents();
  }
  function job() {
    const root = $('#data');
    if (!root) return;
    const n = view.arg;
    const j = state.jobs.get(n);
    if (!j) {
      replace(root, el('div', {}, el('h1', { text: 'Job ' + n }), el('p', { text: state.connected ? 'No Job of this name (deleted, or not created yet).' : 'Loading…' })));
      return;
    }
    const [s, cls] = jobStatus(j);
    const sp = j.spec || {};
    const c = (sp.template && sp.template.spec && sp.template.spec.containers && sp.template.spec.containers[0]) || {};
    const suspended = !!sp.suspend;
    const finished = !!(cond(j, 'Complete') || cond(j, 'Failed'));
    const specPairs = [
      ['Status', status(s, cls)],
      ['Completions', progress(j)],
      ['Parallelism', String(sp.parallelism ?? 1)],
      ['Completion mode', sp.completionMode || 'NonIndexed'],
      ['Back-off limit', String(sp.backoffLimit ?? 6)],
      ['Active deadline', sp.activeDeadlineSeconds ? sp.activeDeadlineSeconds + 's' : 'none'],
      ['TTL after finished', sp.ttlSecondsAfterFinished !== undefined ? sp.ttlSecondsAfterFinished + 's' : 'none'],
      ['Restart policy', (sp.template && sp.template.spec && sp.template.spec.restartPolicy) || ''],
      ['Command', el('code', { text: [...(c.command || []), ...(c.args || [])].join(' ') })],
      ['Image (shown, not pulled)', c.image || ''],
      ['Tasks', tasks(j) || 'not a queue Job'],
      ['Queue', sp.queue ? (sp.queue.name + ' at ' + sp.queue.url + ' (' + (sp.queue.handler || 'Exec') + ')') : 'none'],
      ['Labels', Object.entries(j.metadata.labels || {}).map(([k, v]) => k + '=' + v).join(', ')],
      ['Started', j.status && j.status.startTime ? isoSec(j.status.startTime) + ' (duration ' + duration(j) + ')' : 'not yet'],
    ];
    const pods = [...state.pods.values()].sort((a, b) => ts(a.metadata.creationTimestamp) - ts(b.metadata.creationTimestamp) || a.metadata.name.localeCompare(b.metadata.name));
    const t0 = Math.min(ts(j.status && j.status.startTime) || Infinity, ...pods.map((p) => podTimes(p).start).filter(Number.isFinite));
    const t1 = (j.status && j.status.completionTime && ts(j.status.completionTime)) || now();
    const span = Math.max(1000, t1 - (Number.isFinite(t0) ? t0 : t1));
    const timeline = el('div', { class: 'timeline', role: 'list', 'aria-label': 'Pods of ' + n + ', oldest first' },
      pods.map((p) => {
        const [ps, pcls, bar] = podState(p);
        const { start, end } = podTimes(p);
        const b = el('span', { class: 'tl-bar ' + bar });
        const left = Number.isFinite(start) ? Math.max(0, (100 * (start - t0)) / span) : 0;
        const right = Number.isFinite(end) ? (100 * (end - t0)) / span : 100;
        b.style.left = left.toFixed(2) + '%';
        b.style.width = Math.max(0.5, Math.min(100, right) - left).toFixed(2) + '%';
        const took = Number.isFinite(end) && Number.isFinite(start) ? ', ran ' + human(end - start) : '';
        return el('div', { class: 'tl-row', role: 'listitem', 'data-pod': p.metadata.name },
          el('div', { class: 'tl-label' },
            el('button', { type: 'button', 'data-key': 'log:' + p.metadata.name, 'aria-pressed': String(view.logPod === p.metadata.name), onclick: () => followLog(p.metadata.name), title: 'Follow this pod\'s log' }, p.metadata.name),
            ' ', status(ps, pcls),
            el('div', { class: 'muted', text: (p.spec.nodeName ? 'on ' + p.spec.nodeName : 'no worker yet') + took })),
          el('div', { class: 'tl-track', 'aria-hidden': 'true' }, b));
      }));
    replace(root, el('div', {},
      el('h1', {}, 'Job ', el('span', { class: 'mono', text: n })),
      el('div', { class: 'actions' },
        el('button', { type: 'button', 'data-key': 'suspend', disabled: finished, onclick: () => suspendJob(n, !suspended) }, suspended ? 'Resume' : 'Suspend'),
        el('button', { type: 'button', class: 'danger', 'data-key': 'delete', onclick: () => deleteJob(n) }, 'Delete')),
      el('h2', { text: 'Spec' }),
      el('dl', { class: 'kv' }, specPairs.map(([k, v]) => [el('dt', { text: k }), el('dd', {}, v)])),
      el('h2', { text: 'Conditions' }),
      table('', ['Type', 'Status', 'Reason', 'Message', 'Last transition'],
        ((j.status && j.status.conditions) || []).map((x) => el('tr', {}, el('td', { text: x.type }), el('td', { text: x.status }), el('td', { text: x.reason || '' }), el('td', { text: x.message || '' }), el('td', { text: isoSec(x.lastTransitionTime) }))),
        'No condition yet.'),
      el('h2', { text: 'Pods (' + pods.length + ')' }),
      pods.length ? [el('div', { class: 'tl-axis', 'aria-hidden': 'true' }, el('span', { text: Number.isFinite(t0) ? new Date(t0).toLocaleTimeString() : '' }), el('span', { text: human(span) })), timeline]
        : el('p', { class: 'muted', text: 'No pod (yet, or removed).' })));
  }
  function refreshEventsSoon() {
    if (eventsTimer) return;
    const wait = Math.max(0, 2000 - (Date.now() - lastEventsFetch));
    eventsTimer = setTimeout(() => { eventsTimer = null; fetchEvents(); }, wait);
  }
  async function fetchEvents() {
    if (view.page !== 'job') return;
    lastEventsFetch = Date.now();
    const n = view.arg;
    try {
      const q = 'fieldSelector=' + encodeURIComponent('involvedObject.kind=Job,involvedObject.name=' + n);
      const list = await api('GET', '/api/v1/namespaces/default/events?' + q);
      const root = $('#events');
      if (!root || view.arg !== n) return;
      const items = (list.items || []).slice(-50).reverse();
      replace(root, table('Newest first (the last 50).', ['Last seen', 'Type', 'Reason', 'Message'],
        items.map((e) => el('tr', {}, el('td', { text: human(now() - ts(e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp)) }),
          el('td', {}, status(e.type || 'Normal', e.type === 'Warning' ? 's-bad' : 's-off')), el('td', { text: e.reason || '' }), el('td', { text: e.message || '' }))),
        'No event.'));
    } catch (e) {
      notice('Cannot read the events: ' + e.message, false);
    }
  }
  async function followLog(pod) {
    if (logAbort) logAbort.abort();
    view.logPod = pod;
    scheduleRender();
    const pre = $('#log');
    const label = $('#log-name');
    if (!pre) return;
    pre.hidden = false;
    pre.textContent = '';
    label.textContent = 'Following the log of ' + pod + ' (the last 500 lines).';
    const ctl = new AbortController();
    logAbort = ctl;
    let text = '';
    try {
      const r = await fetch('/api/v1/namespaces/default/pods/' + encodeURIComponent(pod) + '/log?follow=true', { credentials: 'same-origin', signal: ctl.signal });
      if (!r.ok) { label.textContent = 'Cannot read the log of ' + pod + ': ' + r.status; return; }
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += dec.decode(value, { stream: true });
        const lines = text.split('\n');
        if (lines.length > 501) text = lines.slice(-501).join('\n');
        const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.textContent = text;
        if (stick) pre.scrollTop = pre.scrollHeight;
      }
      if (logAbort === ctl) label.textContent = 'The log of ' + pod + ' (the pod has finished).';
    } catch (e) {
      if (e.name !== 'AbortError') label.textContent = 'The log of ' + pod + ' stopped: ' + e.message;
    }
  }

  function cronjobs() {
    const root = $('#data');
    if (!root) return;
    const list = [...state.cronjobs.values()].sort((a, b) => a.o.metadata.name.localeCompare(b.o.metadata.name));
    const runsOf = (cj) => [...state.jobs.values()]
      .filter((j) => (j.metadata.ownerReferences || []).some((r) => r.kind === 'CronJob' && r.uid === cj.metadata.uid))
      .sort((a, b) => ts(b.metadata.creationTimestamp) - ts(a.metadata.creationTimestamp)).slice(0, 5);
    replace(root, table('Next fire times in each CronJob\'s zone. Missed schedules are the last the CronJob recorded.',
      ['Name', 'Schedule', 'Next five', 'State', 'Last runs', 'Missed', 'Actions'],
      list.map(({ o: cj, x }) => {
        const n = cj.metadata.name;
        const sus = !!(cj.spec && cj.spec.suspend);
        const st = cj.status || {};
        const missed = st.missedSchedules || [];
        const info = x || {};
        const next = (info.next || []).filter((t) => ts(t.time) > now() - 1000);
        return el('tr', { 'data-cronjob': n },
          el('td', {}, el('span', { class: 'mono', text: n })),
          el('td', {}, el('code', { text: cj.spec.schedule }), el('div', { text: info.words || '' }), el('div', { class: 'muted', text: 'zone ' + (info.zone || cj.spec.timeZone || '') })),
          el('td', {}, info.error ? el('span', { class: 'status s-bad', text: info.error }) : el('ol', { class: 'times' }, next.map((t) => el('li', {}, el('time', { datetime: t.time, text: t.local }))))),
          el('td', {}, status(sus ? 'Suspended' : 'Active', sus ? 's-pause' : 's-ok'),
            el('div', { class: 'muted', text: (st.active || []).length + ' running' }),
            el('div', { class: 'muted', text: st.lastScheduleTime ? 'last scheduled ' + human(now() - ts(st.lastScheduleTime)) + ' ago' : 'never scheduled' })),
          el('td', {}, runsOf(cj).length ? el('ul', {}, runsOf(cj).map((j) => { const [s, c] = jobStatus(j); return el('li', {}, el('a', { href: '#/jobs/' + encodeURIComponent(j.metadata.name), text: j.metadata.name }), ' ', status(s, c)); })) : el('span', { class: 'muted', text: 'none kept' })),
          el('td', {}, missed.length ? missed.slice(-3).reverse().map((m) => el('div', { class: 'missed', text: (m.count > 1 ? m.count + '× ' : '') + isoSec(m.scheduledTime) + ': ' + m.reason })) : el('span', { class: 'muted', text: 'none' })),
          el('td', {}, el('div', { class: 'actions' },
            el('button', { type: 'button', 'data-key': 'cj-suspend:' + n, 'data-action': sus ? 'resume' : 'suspend', onclick: () => suspendCron(n, !sus) }, sus ? 'Resume' : 'Suspend'),
            el('button', { type: 'button', 'data-key': 'cj-run:' + n, 'data-action': 'run', onclick: () => runNow(n) }, 'Run now'))));
      }), 'No CronJob.'));
  }

  function workers() {
    const root = $('#data');
    if (!root) return;
    const list = [...state.workers.values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    replace(root, table('Heartbeat: time since the worker last reported.',
      ['Name', 'Status', 'Slots used ', 'Running pods ', 'Heartbeat ', 'Version', 'Host', 'Actions'],
      list.map((w) => {
        const n = w.metadata.name;
        const [s, cls] = workerStatus(w);
        const running = busy(w);
        const slots = (w.spec && w.spec.slots) || 0;
        const fill = el('span');
        fill.style.width = (slots ? Math.min(100, (100 * running) / slots) : 0) + '%';
        const lost = w.status && w.status.phase === 'Lost';
        const cordoned = !!(w.spec && w.spec.unschedulable);
        return el('tr', { 'data-worker': n },
          el('td', { class: 'mono', text: n }),
          el('td', {}, status(s, cls)),
          el('td', {}, el('div', { class: 'progress' }, el('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': slots, 'aria-valuenow': Math.min(running, slots), 'aria-label': 'Slots used on ' + n }, fill), el('span', { class: 'completions', text: running + '/' + slots }))),
          el('td', { class: 'num', text: fmt(running) }),
          el('td', { class: 'num', text: w.status && w.status.lastHeartbeatTime ? human(now() - ts(w.status.lastHeartbeatTime)) + ' ago' : 'never' }),
          el('td', { text: (w.status && w.status.version) || '' }),
          el('td', { text: (w.status && w.status.hostname) || '' }),
          el('td', {}, el('div', { class: 'actions' },
            el('button', { type: 'button', 'data-key': 'w-cordon:' + n, 'data-action': cordoned ? 'uncordon' : 'cordon', disabled: lost, onclick: () => workerAction(n, cordoned ? 'uncordon' : 'cordon') }, cordoned ? 'Uncordon' : 'Cordon'),
            el('button', { type: 'button', class: 'danger', 'data-key': 'w-drain:' + n, 'data-action': 'drain', disabled: lost || w.status.phase === 'Draining', onclick: () => workerAction(n, 'drain') }, 'Drain'))));
      }), 'No worker has joined.'));
  }

  async function pollQueues() {
    if (view.page !== 'queues') return;
    try {
      queuesData = await api('GET', '/ui/queues');
      queuesError = '';
    } catch (e) {
      queuesError = String(e.message || e);
    }
    if (view.page !== 'queues') return;
    scheduleRender();
    clearTimeout(queuesTimer);
    queuesTimer = setTimeout(pollQueues, QUEUES_POLL);
  }
  function queues() {
    const root = $('#data');
    if (!root) return;
    if (!queuesData) { replace(root, el('p', { class: 'muted', text: queuesError || 'Asking the brokers…' })); return; }
    const opt = (v) => (v === null || v === undefined ? 'unknown' : fmt(v));
    const rows = queuesData.queues.map((q) => {
      const ok = q.state === 'ok';
      const stateCell = ok ? null
        : q.state === 'absent' ? status('No such queue yet', 's-pause')
        : status(q.state === 'unreachable' ? 'Unreachable' : 'Error', 's-bad');
      const jobs = q.jobs.map((n, i) => [i ? ', ' : '', el('a', { href: '#/jobs/' + encodeURIComponent(n), text: n })]);
      const more = q.jobCount > q.jobs.length ? ' and ' + fmt(q.jobCount - q.jobs.length) + ' more' : '';
      return el('tr', { 'data-queue': q.queue, 'data-state': q.state },
        el('td', { class: 'mono', text: q.queue }),
        el('td', {}, el('div', { text: q.url.startsWith('redis') ? 'Redis' : q.url.startsWith('amqp') ? 'RabbitMQ' : q.url.split(':')[0] }), el('div', { class: 'muted mono', text: q.url })),
        el('td', {}, jobs, more, el('div', { class: 'muted', text: fmt(q.unfinishedJobs) + ' unfinished' })),
        ok ? el('td', { class: 'num', 'data-col': 'ready', text: fmt(q.ready) }) : el('td', { colspan: 4 }, stateCell, q.error ? el('div', { class: 'muted', text: q.error }) : null),
        ok ? el('td', { class: 'num', 'data-col': 'inflight', text: q.inFlight === null ? 'unknown (RabbitMQ)' : fmt(q.inFlight) }) : null,
        ok ? el('td', { class: 'num', 'data-col': 'consumers', text: opt(q.consumers) }) : null,
        ok ? el('td', { class: 'num', 'data-col': 'dead', text: fmt(q.deadLettered) }) : null);
    });
    replace(root, el('div', {},
      table('What each broker holds, asked every ' + QUEUES_POLL / 1000 + ' s while this page is open (answers cached ' + queuesData.cacheSeconds + ' s, ' + queuesData.timeoutSeconds + ' s timeout per broker). RabbitMQ does not report tasks in flight without its management API.',
        ['Queue', 'Broker', 'Jobs using it', 'Ready ', 'In flight ', 'Consumers ', 'Dead-lettered '], rows, 'No Job names a queue.'),
      queuesData.truncated ? el('p', { class: 'muted', text: 'Only the first ' + queuesData.maxQueues + ' queues are shown (those of unfinished Jobs first).' }) : null,
      queuesError ? el('p', { class: 'muted', text: 'Last refresh failed: ' + queuesError }) : null));
  }

  // ---- pages ----
  function route() {
    const h = location.hash.replace(/^#\/?/, '');
    const [page, ...rest] = h.split('/');
    const arg = rest.length ? decodeURIComponent(rest.join('/')) : null;
    if (page === 'jobs' && arg) { view.page = 'job'; view.arg = arg; }
    else if (['overview', 'jobs', 'cronjobs', 'workers', 'queues'].includes(page)) { view.page = page; view.arg = null; }
    else { view.page = 'overview'; view.arg = null; }
    if (logAbort && view.page !== 'job') { logAbort.abort(); logAbort = null; }
    view.logPod = null;
    clearTimeout(queuesTimer);
    queuesTimer = null;
    for (const a of document.querySelectorAll('nav a[data-page]')) {
      const current = a.dataset.page === view.page || (view.page === 'job' && a.dataset.page === 'jobs');
      if (current) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    const main = $('#main');
    const titles = { overview: 'Overview', jobs: 'Jobs', job: 'Job ' + view.arg, cronjobs: 'CronJobs', workers: 'Workers', queues: 'Queues' };
    document.title = titles[view.page] + ' · Drover';
    if (view.page === 'overview') main.replaceChildren(el('h1', { text: 'Overview' }), el('div', { id: 'data' }));
    else if (view.page === 'jobs') jobsShell(main);
    else if (view.page === 'job') jobShell(main);
    else if (view.page === 'cronjobs') main.replaceChildren(el('h1', { text: 'CronJobs' }), el('div', { id: 'data' }));
    else if (view.page === 'queues') {
      main.replaceChildren(el('h1', { text: 'Queues' }), el('div', { id: 'data' }));
      pollQueues();
    }
    else main.replaceChildren(el('h1', { text: 'Workers' }), el('div', { id: 'data' }));
    main.setAttribute('data-page', view.page);
    connect();
    update();
  }
  function update() {
    const data = $('#data');
    if (!data) return;
    if (view.page === 'overview') overview(data);
    else if (view.page === 'jobs') jobs();
    else if (view.page === 'job') job();
    else if (view.page === 'cronjobs') cronjobs();
    else if (view.page === 'workers') workers();
    else if (view.page === 'queues') queues();
    $('#main').setAttribute('data-ready', state.connected ? 'true' : 'false');
  }

  $('#logout').hidden = !loginMode;
  window.addEventListener('hashchange', () => { notice('', true); route(); });
  // Ages, heartbeats and the rate samples move with the clock (no request is made).
  setInterval(() => { sample(false); scheduleRender(); }, 1000);
  route();
})();
