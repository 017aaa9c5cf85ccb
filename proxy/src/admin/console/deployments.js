// The console's Deployments page: `GET /deployments` (newest first, the current one marked),
// one deployment's config text (`GET /deployments/{id}`), and a rollback to one
// (`POST /deployments/{id}/rollback`) after a confirmation step. Uses console.js's helpers.
'use strict';

function when(ms) {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

// `sha256:` and the first 12 hex digits, the whole digest in the title.
function shortDigest(d) {
  const hex = d.startsWith('sha256:') ? d.slice(7) : d;
  return el('code', { title: d }, hex.slice(0, 12));
}

async function renderDeployments() {
  $('deployment-config').replaceChildren();
  await loadDeployments();
}

async function loadDeployments(focusId) {
  const body = $('deployments-body');
  let r;
  try {
    r = await call('GET', '/deployments');
  } catch (e) {
    body.replaceChildren(el('p', {}, 'Cannot list deployments: ' + e.message));
    return;
  }
  const ro = state.access === 'read-only';
  const rows = r.items.map((d) => {
    const current = d.id === r.current;
    const actions = el('td', { class: 'actions' },
      el('button', {
        type: 'button', class: 'secondary', 'aria-label': `View the config of deployment ${d.id}`,
        onclick: () => viewConfig(d.id),
      }, 'View config'),
      current ? null : el('button', {
        type: 'button', class: 'secondary', disabled: ro, 'data-id': d.id,
        'aria-label': `Roll back to deployment ${d.id}`,
        onclick: () => askRollback(d),
      }, 'Roll back'));
    return [
      el('td', {}, el('code', {}, d.id), current ? el('span', { class: 'tag current' }, 'current') : null),
      when(d.created_at_ms),
      d.source,
      shortDigest(d.digest),
      d.description || dash,
      actions,
    ];
  });
  body.replaceChildren(
    el('div', { id: 'rollback-ask', class: 'card', hidden: true }),
    r.items.length === 0 ? el('p', {}, 'No deployment is recorded yet.') :
      table(null, ['Deployment', 'Time', 'Source', 'Digest', 'Description', ''], rows));
  body.dataset.current = r.current || '';
  if (focusId) {
    const b = body.querySelector(`button[aria-label="View the config of deployment ${focusId}"]`);
    if (b) b.focus();
  }
}

async function viewConfig(id) {
  const out = $('deployment-config');
  out.replaceChildren(el('p', {}, 'Reading…'));
  let d;
  try {
    d = await call('GET', '/deployments/' + encodeURIComponent(id));
  } catch (e) {
    out.replaceChildren(el('p', { class: 'no' }, 'Cannot read the deployment: ' + e.message));
    return;
  }
  const heading = el('h3', { tabindex: '-1' }, 'Config of deployment ', el('code', {}, d.id));
  out.replaceChildren(heading,
    el('p', { class: 'hint' }, `${when(d.created_at_ms)}, ${d.source}, ${d.file}, `, el('code', {}, d.digest)),
    el('pre', { id: 'deployment-text' }, d.config));
  heading.focus();
}

// The confirmation step: what will happen, then Roll back or Cancel (Escape cancels too).
function askRollback(d) {
  const ask = $('rollback-ask');
  const cancel = () => {
    ask.hidden = true;
    ask.replaceChildren();
    const b = document.querySelector(`button[data-id="${d.id}"]`);
    if (b) b.focus();
  };
  const confirm = el('button', { type: 'button', id: 'rollback-confirm', onclick: () => rollback(d) },
    'Roll back to ' + d.id);
  ask.replaceChildren(
    el('h3', {}, 'Roll back?'),
    el('p', {}, 'The gateway will serve the config text of deployment ', el('code', {}, d.id),
      ` (${when(d.created_at_ms)}, ${d.source}) again, as a new deployment. Requests in flight finish on the current config. `,
      'The next change of the config file or reload loads the file again.'),
    el('div', { class: 'row', onkeydown: (ev) => { if (ev.key === 'Escape') cancel(); } }, confirm,
      el('button', { type: 'button', class: 'secondary', id: 'rollback-cancel', onclick: cancel }, 'Cancel')));
  ask.hidden = false;
  confirm.focus();
}

async function rollback(d) {
  const ask = $('rollback-ask');
  for (const b of ask.querySelectorAll('button')) b.disabled = true;
  let made;
  try {
    made = await call('POST', '/deployments/' + encodeURIComponent(d.id) + '/rollback');
  } catch (e) {
    say('Rollback refused: ' + e.message);
    const errors = e.data && Array.isArray(e.data.errors) ? e.data.errors : [];
    if (errors.length) ask.append(el('pre', { class: 'no' }, errors.join('\n')));
    for (const b of ask.querySelectorAll('button')) b.disabled = false;
    return;
  }
  say(`Rolled back: deployment ${made.id} now serves the config of ${d.id}.`, true);
  await loadConfig();
  await loadDeployments(made.id);
}
