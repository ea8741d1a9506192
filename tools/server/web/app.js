// The web page of `ipadapter serve`: builds the JSON request of docs/request.md from the form,
// posts it to /v1/generate, follows /v1/jobs/{id}/events and shows the images. Nothing is loaded
// from outside the server.
'use strict';

const $ = (sel, root = document) => root.querySelector(sel);
let models = [];
let currentJob = null;

function apiKey() { return localStorage.getItem('ipadapter-api-key') || ''; }

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (apiKey()) headers.Authorization = 'Bearer ' + apiKey();
  const res = await fetch(path, Object.assign({}, options, { headers }));
  if (res.status === 401) {
    $('#key-box').hidden = false;
    throw new Error('this server needs an API key (top right)');
  }
  return res;
}

async function apiJson(path, options) {
  const res = await api(path, options);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const field = body.field ? ' [' + body.field + ']' : '';
    throw new Error((body.error || res.statusText) + field);
  }
  return body;
}

function setStatus(text, isError = false) {
  const s = $('#status');
  s.textContent = text;
  s.classList.toggle('error', isError);
}

function family(base) {
  return /XL/.test(base.class || '') ? 'sdxl' : 'sd15';
}

// The adapters that fit the chosen base (same token width), those beside it first.
function fillAdapterSelect(select) {
  const base = models.find(m => m.path === $('#base').value);
  const keep = select.value;
  select.innerHTML = '';
  const shared = p => {
    if (!base) return 0;
    let n = 0;
    while (n < p.length && p[n] === base.path[n]) ++n;
    return n;
  };
  const fits = models.filter(m => m.kind === 'ip-adapter' &&
      (!base || !base.cross_attention_dim || m.cross_attention_dim === base.cross_attention_dim));
  fits.sort((a, b) => shared(b.path) - shared(a.path) || a.path.localeCompare(b.path));
  for (const m of fits) {
    const o = document.createElement('option');
    o.value = o.textContent = m.path;
    select.append(o);
  }
  if (keep) select.value = keep;
  if (!select.value && select.options.length) select.selectedIndex = 0;
}

async function loadModels() {
  try {
    const body = await apiJson('/v1/models');
    models = body.models || [];
  } catch (e) {
    setStatus(e.message, true);
    return;
  }
  const base = $('#base');
  base.innerHTML = '';
  for (const m of models.filter(m => m.kind === 'diffusers-pipeline')) {
    const o = document.createElement('option');
    o.value = m.path;
    o.textContent = m.path + ' (' + family(m) + ')';
    base.append(o);
  }
  document.querySelectorAll('.adapter-file').forEach(fillAdapterSelect);
}

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

function showThumbs(container, urls) {
  container.innerHTML = '';
  for (const u of urls) {
    const img = document.createElement('img');
    img.src = u;
    container.append(img);
  }
}

function bindRange(card, cls) {
  const input = $('.' + cls, card);
  const show = () => { $('.' + cls + '-value', card).textContent = input.value; };
  input.addEventListener('input', show);
  show();
}

function addAdapter(preset = {}) {
  const card = $('#adapter-template').content.firstElementChild.cloneNode(true);
  card.images = [];
  card.masks = [];
  $('#adapters').append(card);
  fillAdapterSelect($('.adapter-file', card));
  for (const cls of ['scale', 'start', 'end']) bindRange(card, cls);
  const addImages = async files => {
    for (const f of files) card.images.push(await readAsDataUrl(f));
    showThumbs($('.thumbs', card), card.images);
  };
  $('.images-input', card).addEventListener('change', e => addImages(e.target.files));
  const drop = $('.drop', card);
  drop.addEventListener('dragover', e => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', e => {
    e.preventDefault();
    drop.classList.remove('over');
    addImages(e.dataTransfer.files);
  });
  $('.masks-input', card).addEventListener('change', async e => {
    card.masks = [];
    for (const f of e.target.files) card.masks.push(await readAsDataUrl(f));
    showThumbs($('.mask-thumbs', card), card.masks);
  });
  $('.remove', card).addEventListener('click', () => card.remove());
  // A re-run restores an adapter as it was sent.
  if (preset.file) $('.adapter-file', card).value = preset.file;
  if (preset.images) { card.images = preset.images.slice(); showThumbs($('.thumbs', card), card.images); }
  if (preset.masks) { card.masks = preset.masks.slice(); showThumbs($('.mask-thumbs', card), card.masks); }
  for (const k of ['scale', 'start', 'end']) {
    if (typeof preset[k] === 'number') { $('.' + k, card).value = preset[k]; $('.' + k + '-value', card).textContent = preset[k]; }
  }
  if (preset.preset) $('.preset', card).value = preset.preset;
  if (preset.combine) $('.combine', card).value = preset.combine;
  return card;
}

function buildRequest() {
  const num = id => Number($(id).value);
  const r = {
    base: $('#base').value,
    prompt: $('#prompt').value,
    negative_prompt: $('#negative').value,
    steps: num('#steps'),
    seed: num('#seed'),
    width: num('#width'),
    height: num('#height'),
    cfg: num('#cfg'),
    sampler: $('#sampler').value,
    ip_adapters: [],
  };
  for (const card of document.querySelectorAll('.adapter')) {
    if (!card.images.length) continue;  // a card without references adds nothing
    const a = {
      file: $('.adapter-file', card).value,
      images: card.images,
      scale: Number($('.scale', card).value),
      start: Number($('.start', card).value),
      end: Number($('.end', card).value),
      combine: $('.combine', card).value,
    };
    if ($('.preset', card).value) a.preset = $('.preset', card).value;
    if (card.masks.length) a.masks = card.masks;
    r.ip_adapters.push(a);
  }
  const extra = $('#extra').value.trim();
  if (extra) Object.assign(r, JSON.parse(extra));
  return r;
}

function loadRequest(r) {
  $('#base').value = r.base;
  $('#prompt').value = r.prompt || '';
  $('#negative').value = r.negative_prompt || '';
  for (const k of ['steps', 'seed', 'width', 'height', 'cfg']) if (k in r) $('#' + k).value = r[k];
  if (r.sampler) $('#sampler').value = r.sampler;
  $('#adapters').innerHTML = '';
  for (const a of r.ip_adapters || []) addAdapter(a);
}

// Server-Sent Events over fetch (EventSource cannot send the API key header).
async function follow(id, onEvent) {
  const res = await api('/v1/jobs/' + id + '/events');
  if (!res.ok) throw new Error('events: ' + res.status);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message', data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (data) onEvent(event, JSON.parse(data));
    }
  }
}

async function addResult(id, job, request) {
  for (let n = 0; n < job.images; ++n) {
    const res = await api('/v1/jobs/' + id + '/images/' + n);
    const url = URL.createObjectURL(await res.blob());
    const fig = document.createElement('figure');
    const img = document.createElement('img');
    img.src = url;
    img.alt = 'result ' + id + ' #' + n;
    img.className = 'result';
    const pre = document.createElement('pre');
    pre.className = 'params';
    pre.textContent = job.parameters;
    const rerun = document.createElement('button');
    rerun.type = 'button';
    rerun.className = 'rerun';
    rerun.textContent = 'Re-run';
    rerun.addEventListener('click', () => { loadRequest(request); generate(request); });
    const save = document.createElement('a');
    save.href = url;
    save.download = id + '_' + n + '.png';
    save.textContent = ' Save PNG';
    fig.append(img, pre, rerun, save);
    $('#gallery').prepend(fig);
  }
}

async function generate(request) {
  const progress = $('#progress');
  progress.value = 0;
  $('#generate').disabled = true;
  try {
    setStatus('submitting…');
    const { id } = await apiJson('/v1/generate', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(request),
    });
    currentJob = id;
    $('#cancel').disabled = false;
    let final = null;
    await follow(id, (event, job) => {
      if (job.total > 0) progress.value = job.step / job.total;
      if (event === 'progress') {
        const eta = job.eta_s != null ? ', about ' + job.eta_s.toFixed(1) + ' s left' : '';
        setStatus(job.state === 'queued' ? 'queued (position ' + job.queue_position + ')'
                                         : 'step ' + job.step + ' / ' + job.total + eta);
      } else {
        final = job;
      }
    });
    if (!final) final = await apiJson('/v1/jobs/' + id);
    if (final.state === 'done') {
      progress.value = 1;
      setStatus('done in ' + (final.elapsed_s || 0).toFixed(1) + ' s');
      await addResult(id, final, request);
    } else {
      setStatus(final.state + ': ' + (final.error || ''), final.state === 'error');
    }
  } catch (e) {
    setStatus(e.message, true);
  } finally {
    currentJob = null;
    $('#generate').disabled = false;
    $('#cancel').disabled = true;
  }
}

async function refreshHealth() {
  try {
    const h = await (await fetch('/health')).json();
    $('#health').textContent = 'queue ' + h.queued + ', running ' + h.running + ', engines ' +
        h.engines.loaded + ', ' + Math.round(h.memory.rss_mib) + ' MiB';
  } catch (e) {
    $('#health').textContent = 'server unreachable';
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('#api-key').value = apiKey();
  $('#api-key').addEventListener('change', e => {
    localStorage.setItem('ipadapter-api-key', e.target.value);
    loadModels();
  });
  $('#add-adapter').addEventListener('click', () => addAdapter());
  $('#base').addEventListener('change', () => document.querySelectorAll('.adapter-file').forEach(fillAdapterSelect));
  $('#random-seed').addEventListener('click', () => { $('#seed').value = Math.floor(Math.random() * 2 ** 31); });
  $('#cancel').addEventListener('click', () => {
    if (currentJob) api('/v1/jobs/' + currentJob, { method: 'DELETE' });
  });
  $('#form').addEventListener('submit', e => {
    e.preventDefault();
    let request;
    try {
      request = buildRequest();
    } catch (err) {
      setStatus('extra JSON: ' + err.message, true);
      return;
    }
    generate(request);
  });
  loadModels().then(() => { if (!document.querySelector('.adapter')) addAdapter(); });
  refreshHealth();
  setInterval(refreshHealth, 5000);
});
