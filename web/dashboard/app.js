// The Nimbus dashboard: hosts with their VMs packed on them, tenants' usage against quota, the
// event stream and VM consoles, from the controller's REST API (docs/cloud.md "Dashboard").
import { api, ApiError, adoptFragmentToken, token, setToken, clearToken } from './api.js';
import { h, replace, fmtMem, pct } from './dom.js';
import { ConsoleView } from './console.js';

const REFRESH_MS = 2500;
// Tableau 10: distinct and readable on white.
const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

const $ = (id) => document.getElementById(id);
const state = { admin: null, vms: [], tenants: [], colors: new Map(), timer: null, seenEvents: new Set(), firstEvents: true };
const consoleView = new ConsoleView($('console'));

function view(name) {
  document.body.dataset.view = name;
  $('login').hidden = name !== 'login';
  $('dashboard').hidden = name !== 'dashboard';
  $('signout').hidden = name !== 'dashboard';
}

function showLogin(message) {
  clearInterval(state.timer);
  state.timer = null;
  consoleView.close();
  view('login');
  replace($('who'));
  replace($('status'));
  $('login-error').hidden = !message;
  $('login-error').textContent = message || '';
  $('token-input').value = '';
  $('token-input').focus();
}

function colorOf(tenant) {
  if (!state.colors.has(tenant)) state.colors.set(tenant, PALETTE[state.colors.size % PALETTE.length]);
  return state.colors.get(tenant);
}

// Colors follow the sorted tenant names so they stay put between refreshes.
function assignColors(names) {
  for (const n of [...names].sort()) colorOf(n);
}

// ---------------------------------------------------------------------------------------------
// Rendering

function hostState(host) {
  if (host.state === 'lost') return { key: 'lost', text: 'lost' };
  if (host.draining) return { key: 'draining', text: 'draining' };
  if (host.cordoned) return { key: 'cordoned', text: 'cordoned' };
  return { key: 'up', text: 'up' };
}

const running = (vm) => vm.state === 'running';

function stackedBar(label, unit, capacity, allocated, vms, amount, format) {
  const scale = Math.max(capacity, allocated, 1);
  const segments = vms.map((vm) => {
    const value = amount(vm);
    return h('div', {
      class: `seg${running(vm) ? '' : ' pending'}`,
      style: { width: pct(value / scale), background: colorOf(vm.tenant) },
      title: `${vm.name} (${vm.tenant}) · ${format(value)} · ${vm.state}`,
      dataset: { vm: vm.name },
    }, h('span', {}, vm.name));
  });
  const over = allocated > capacity;
  return h('div', { class: 'res' },
    h('span', { class: 'res-label' }, label),
    h('div', { class: `bar${over ? ' over' : ''}` },
      segments,
      over ? h('div', { class: 'cap-mark', style: { left: pct(capacity / scale) }, title: `physical capacity ${format(capacity)}` }) : null),
    h('span', { class: 'res-num' }, `${format(allocated)} / ${format(capacity)}${over ? ' ⚠' : ''}`));
}

function renderHosts(hosts, vms) {
  const byHost = new Map();
  for (const vm of vms) {
    if (!vm.host) continue;
    if (!byHost.has(vm.host)) byHost.set(vm.host, []);
    byHost.get(vm.host).push(vm);
  }
  const cards = hosts.map((host) => {
    const st = hostState(host);
    const mine = (byHost.get(host.name) || []).sort((a, b) => a.tenant.localeCompare(b.tenant) || a.name.localeCompare(b.name));
    const cap = host.capacity || {};
    const alloc = host.allocated || {};
    const load = host.cpu_load || 0;
    const loadShare = cap.vcpus ? load / cap.vcpus : 0;
    return h('article', { class: `host ${st.key}`, dataset: { host: host.name } },
      h('header', {},
        h('h3', {}, host.name),
        h('span', { class: `badge ${st.key}` }, st.text),
        h('span', { class: 'host-vms' }, `${mine.length || host.vms || 0} VM${(mine.length || host.vms) === 1 ? '' : 's'}`)),
      stackedBar('vCPU', '', cap.vcpus || 0, alloc.vcpus || 0, mine, (vm) => vm.vcpus || 0, (v) => `${v}`),
      stackedBar('Memory', '', cap.memory_mib || 0, alloc.memory_mib || 0, mine, (vm) => vm.memory_mib || 0, fmtMem),
      h('div', { class: 'res load' },
        h('span', { class: 'res-label' }, 'CPU load'),
        h('div', { class: 'meter' }, h('div', { class: `fill${loadShare > 0.9 ? ' hot' : ''}`, style: { width: pct(loadShare) } })),
        h('span', { class: 'res-num' }, `${load.toFixed(2)} of ${cap.vcpus || 0} CPUs`)));
  });
  replace($('hosts'), cards.length ? cards : h('p', { class: 'muted' }, 'No hosts registered yet (start nimbus host).'));
}

// A tenant token cannot list hosts: show its VMs grouped by host instead.
function renderTenantHosts(vms) {
  const byHost = new Map();
  for (const vm of vms) {
    const key = vm.host || '(unplaced)';
    if (!byHost.has(key)) byHost.set(key, []);
    byHost.get(key).push(vm);
  }
  const cards = [...byHost.entries()].sort().map(([name, list]) =>
    h('article', { class: 'host up', dataset: { host: name } },
      h('header', {}, h('h3', {}, name), h('span', { class: 'host-vms' }, `${list.length} of your VMs`)),
      h('div', { class: 'chips' }, list.map((vm) =>
        h('span', { class: `chip${running(vm) ? '' : ' pending'}`, style: { borderColor: colorOf(vm.tenant) } },
          h('i', { style: { background: colorOf(vm.tenant) } }), `${vm.name} · ${vm.vcpus} vCPU · ${fmtMem(vm.memory_mib)}`)))));
  replace($('hosts'), cards.length ? cards : h('p', { class: 'muted' }, 'No VMs yet.'));
}

function renderLegend(names) {
  replace($('legend'), [...names].sort().map((n) => h('span', { class: 'legend-item' }, h('i', { style: { background: colorOf(n) } }), n)),
    h('span', { class: 'legend-item' }, h('i', { class: 'pending' }), 'not running'));
}

function summaryCard(title, value, detail, extra) {
  return h('div', { class: 'stat card' }, h('div', { class: 'stat-title' }, title), h('div', { class: 'stat-value' }, value),
    detail ? h('div', { class: 'stat-detail' }, detail) : null, extra || null);
}

function renderSummary(hosts, vms, fleet) {
  const cards = [];
  const runningCount = vms.filter(running).length;
  if (hosts) {
    const up = hosts.filter((x) => x.state !== 'lost').length;
    const lost = hosts.length - up;
    const cordoned = hosts.filter((x) => x.state !== 'lost' && (x.cordoned || x.draining)).length;
    cards.push(summaryCard('Hosts up', `${up}`, [lost ? `${lost} lost` : 'none lost', cordoned ? ` · ${cordoned} cordoned` : '']));
    const cap = hosts.reduce((a, x) => ({ v: a.v + (x.capacity?.vcpus || 0), m: a.m + (x.capacity?.memory_mib || 0) }), { v: 0, m: 0 });
    const al = hosts.reduce((a, x) => ({ v: a.v + (x.allocated?.vcpus || 0), m: a.m + (x.allocated?.memory_mib || 0) }), { v: 0, m: 0 });
    cards.push(summaryCard('vCPUs placed', `${al.v} / ${cap.v}`, null, h('div', { class: 'meter' }, h('div', { class: 'fill', style: { width: pct(cap.v ? al.v / cap.v : 0) } }))));
    cards.push(summaryCard('Memory placed', `${fmtMem(al.m)} / ${fmtMem(cap.m)}`, null, h('div', { class: 'meter' }, h('div', { class: 'fill', style: { width: pct(cap.m ? al.m / cap.m : 0) } }))));
  }
  cards.push(summaryCard('VMs running', `${runningCount} / ${vms.length}`, vms.length - runningCount ? `${vms.length - runningCount} not running` : 'all running'));
  if (fleet && fleet.active_hosts !== undefined) {
    const active = fleet.active_hosts, bound = fleet.lower_bound ?? 0;
    const scale = Math.max(active, bound, 1);
    cards.push(summaryCard('Active hosts vs lower bound', h('span', {}, `${active}`, h('small', {}, ` vs ${bound}`)),
      active <= bound ? 'as few as any placement could use' : `${active - bound} more than the fewest possible`,
      h('div', { class: 'pair', id: 'fleet-bound' },
        h('div', { class: 'pair-row' }, h('span', {}, 'active'), h('div', { class: 'meter' }, h('div', { class: 'fill', style: { width: pct(active / scale) } })), h('b', {}, active)),
        h('div', { class: 'pair-row' }, h('span', {}, 'bound'), h('div', { class: 'meter' }, h('div', { class: 'fill bound', style: { width: pct(bound / scale) } })), h('b', {}, bound)))));
  }
  replace($('summary'), cards);
}

function usageBar(label, used, limit, format, color) {
  const share = limit > 0 ? used / limit : used > 0 ? 1 : 0;
  return h('div', { class: `quota${share >= 0.9 ? ' near' : ''}` },
    h('span', { class: 'res-label' }, label),
    h('div', { class: 'meter' }, h('div', { class: `fill${share >= 0.9 ? ' hot' : ''}`, style: { width: pct(share), background: share >= 0.9 ? '' : color } })),
    h('span', { class: 'res-num' }, `${format(used)} / ${format(limit)}`));
}

function renderTenants(tenants) {
  const rows = tenants.map((t) => {
    const u = t.usage || {}, q = t.quota || {};
    return h('div', { class: 'tenant', dataset: { tenant: t.name } },
      h('h3', {}, h('i', { class: 'swatch', style: { background: colorOf(t.name) } }), t.name),
      usageBar('vCPUs', u.vcpus || 0, q.vcpus || 0, String, colorOf(t.name)),
      usageBar('Memory', u.memory_mib || 0, q.memory_mib || 0, fmtMem, colorOf(t.name)),
      usageBar('VMs', u.vms || 0, q.vms || 0, String, colorOf(t.name)),
      usageBar('Disk', u.disk_gib || 0, q.disk_gib || 0, (x) => `${x} GiB`, colorOf(t.name)));
  });
  replace($('tenants'), rows.length ? rows : h('p', { class: 'muted' }, 'No tenants yet (nimbus tenant create).'));
}

function renderVms(vms) {
  const head = h('thead', {}, h('tr', {}, ['Name', 'Tenant', 'State', 'Host', 'Flavor', 'vCPUs', 'Memory', 'CPU load', ''].map((x) => h('th', {}, x))));
  const sorted = [...vms].sort((a, b) => a.tenant.localeCompare(b.tenant) || a.name.localeCompare(b.name));
  const body = h('tbody', {}, sorted.map((vm) => h('tr', { dataset: { vm: vm.name } },
    h('td', { class: 'name' }, vm.name),
    h('td', {}, h('i', { class: 'swatch', style: { background: colorOf(vm.tenant) } }), vm.tenant),
    h('td', {}, h('span', { class: `badge vm-${vm.state}` }, vm.state)),
    h('td', {}, vm.host || '—'),
    h('td', {}, vm.flavor),
    h('td', { class: 'num' }, vm.vcpus),
    h('td', { class: 'num' }, fmtMem(vm.memory_mib || 0)),
    h('td', { class: 'num' }, vm.observed ? (vm.observed.cpu_load || 0).toFixed(2) : '—'),
    h('td', {}, h('button', { type: 'button', class: 'small', onclick: () => consoleView.open(vm) }, 'Console')))));
  replace($('vms'), head, body);
  if (!vms.length) replace($('vms'), h('tbody', {}, h('tr', {}, h('td', { class: 'muted' }, 'No VMs yet.'))));
}

function renderEvents(events) {
  const newest = [...events].reverse();
  const items = newest.map((e) => {
    const key = `${e.time}|${e.kind}|${e.message}`;
    const fresh = !state.firstEvents && !state.seenEvents.has(key);
    state.seenEvents.add(key);
    const t = new Date(e.time);
    return h('li', { class: `event${fresh ? ' fresh' : ''}` },
      h('time', { datetime: e.time, title: e.time }, isNaN(t) ? e.time : t.toLocaleTimeString([], { hour12: false })),
      h('span', { class: `kind k-${e.kind}` }, e.kind),
      h('span', { class: 'msg' }, e.message),
      e.tenant ? h('span', { class: 'tag', style: { borderColor: colorOf(e.tenant) } }, e.tenant) : null);
  });
  state.firstEvents = false;
  replace($('events'), items.length ? items : h('li', { class: 'muted' }, 'No events yet.'));
}

// ---------------------------------------------------------------------------------------------
// Refresh loop

function setStatus(ok, text) {
  replace($('status'), h('span', { class: `dot ${ok ? 'ok' : 'bad'}` }), text);
}

async function refresh() {
  const [hostsR, vmsR, tenantsR, eventsR, fleetR, healthR] = await Promise.allSettled([
    state.admin === false ? Promise.resolve(null) : api('/v1/hosts'),
    api('/v1/vms'),
    api('/v1/tenants'),
    api('/v1/events?limit=50'),
    state.admin === false ? Promise.resolve(null) : api('/v1/dashboard/fleet'),
    fetch('/v1/health', { cache: 'no-store' }).then((r) => r.json()),
  ]);
  // A tenant token gets 403 for the host list: that only means "not admin".
  const failures = [hostsR, vmsR, tenantsR, eventsR].filter((r) => r.status === 'rejected').map((r) => r.reason)
    .filter((e) => !(e instanceof ApiError && e.status === 403));
  if (failures.some((e) => e instanceof ApiError && e.status === 401)) {
    clearToken();
    showLogin('The controller does not know this token.');
    return;
  }
  if (state.admin === null) {
    state.admin = hostsR.status === 'fulfilled';
    const tenantName = !state.admin && tenantsR.status === 'fulfilled' && tenantsR.value[0] ? tenantsR.value[0].name : '';
    replace($('who'), h('span', { class: `role ${state.admin ? 'role-admin' : 'role-tenant'}` }, state.admin ? 'admin' : `tenant ${tenantName}`));
  }
  const vms = vmsR.status === 'fulfilled' ? vmsR.value : [];
  state.vms = vms;
  const tenants = tenantsR.status === 'fulfilled' ? tenantsR.value : [];
  const hosts = state.admin && hostsR.status === 'fulfilled' ? hostsR.value : null;
  const fleet = fleetR.status === 'fulfilled' ? fleetR.value : null;
  assignColors(new Set([...tenants.map((t) => t.name), ...vms.map((v) => v.tenant)]));
  renderLegend(new Set([...tenants.map((t) => t.name), ...vms.map((v) => v.tenant)]));
  renderSummary(hosts, vms, fleet);
  $('hosts-note').hidden = !!hosts;
  if (hosts) renderHosts(hosts, vms);
  else renderTenantHosts(vms);
  renderTenants(tenants);
  renderVms(vms);
  if (eventsR.status === 'fulfilled') renderEvents(eventsR.value);
  const health = healthR.status === 'fulfilled' ? healthR.value : null;
  const time = new Date().toLocaleTimeString([], { hour12: false });
  if (failures.length) setStatus(false, `${failures[0].message} · ${time}`);
  else setStatus(true, `${health ? `${health.id}${health.leader ? ' (leader)' : ''}` : 'controller'} · updated ${time}`);
  document.body.dataset.loaded = 'true';
}

async function loop() {
  try {
    await refresh();
  } catch (e) {
    setStatus(false, e.message);
  }
}

function start(params) {
  view('dashboard');
  state.admin = null;
  loop().then(() => {
    const ref = params?.get('console');
    if (!ref || document.body.dataset.view !== 'dashboard') return;
    const tenant = params.get('tenant') || '';
    const vm = state.vms.find((v) => (v.id === ref || v.name === ref) && (!tenant || v.tenant === tenant));
    consoleView.open(vm || { id: ref, name: ref, tenant });
  });
  clearInterval(state.timer);
  state.timer = setInterval(loop, REFRESH_MS);
}

$('login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const t = $('token-input').value.trim();
  if (!t) return;
  setToken(t);
  start(null);
});
$('signout').addEventListener('click', () => {
  clearToken();
  showLogin('');
});

const params = adoptFragmentToken();
if (token()) start(params);
else showLogin('');
