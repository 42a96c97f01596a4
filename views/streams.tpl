% rebase('layout.tpl', title='Streams')
<p class="actions"><button type="button" class="primary" data-open="stream-form" data-reset="1">Add stream</button></p>

% if config_files:
<section class="config-files">
  <h2>Config files <span class="muted">in {{config_dir}}</span></h2>
  <ul>
  % for f in config_files:
    <li id="config-{{f['file']}}"><code>{{f['file']}}</code>
      % if f['status'] == 'failed':
      <span class="badge failed">not used</span>
      <span class="error">{{problem_text(f['error'], f['line'], f['field'])}}</span>
      % if f['stream_ids']:
      <span class="muted">(its last good version still applies)</span>
      % end
      % else:
      <span class="badge completed">applied</span> <span class="muted">{{len(f['stream_ids'])}} stream(s)</span>
      % end
    </li>
  % end
  </ul>
</section>
% end

<dialog id="stream-form" class="form-dialog">
  <form data-api="POST /api/streams" data-edit-api="PUT /api/streams/{id}" data-then="reload" novalidate>
    <h2 data-title-new="Add stream" data-title-edit="Edit stream">Add stream</h2>
    <label>Name <input name="name" required maxlength="100"></label>
    <p class="field-error" data-error-for="name"></p>
    <label>Stream URL <input name="url" required placeholder="http://radio.example.org:8000/live.mp3"></label>
    <p class="field-error" data-error-for="url"></p>
    <div class="row">
      <label>Artist <input name="artist"></label>
      <label>Album <input name="album"></label>
      <label>Album artist <input name="album_artist"></label>
    </div>
    <p class="field-error" data-error-for="artist"></p>
    <label>SCP destination <input name="scp_destination" placeholder="user@host:/path/ (empty: keep files here)"></label>
    <p class="field-error" data-error-for="scp_destination"></p>
    <details><summary>More</summary>
      <label>User-Agent <input name="user_agent" placeholder="for stations that refuse ffmpeg"></label>
      <p class="field-error" data-error-for="user_agent"></p>
      <label>Transfer retries <input name="max_retries" type="number" min="0" max="20" data-type="int-or-null" placeholder="default"></label>
      <p class="field-error" data-error-for="max_retries"></p>
    </details>
    <p class="field-error" data-error-for=""></p>
    <div class="buttons"><button type="button" data-close>Cancel</button><button type="submit" class="primary">Save</button></div>
  </form>
</dialog>

% if not streams:
<p class="empty">No streams yet. Add the internet radio stream you want to record.</p>
% end
<div class="grid">
% for s in streams:
  <article class="card stream" id="stream-{{s['id']}}" data-stream='{{json_row(s)}}'>
    <div class="art">
      % if s['artwork']:
      <img src="/api/streams/{{s['id']}}/artwork?v={{s['artwork']}}" alt="Artwork of {{s['name']}}">
      % else:
      <span class="placeholder" aria-hidden="true">♪</span>
      % end
    </div>
    <div class="body">
      <h2>{{s['name']}}</h2>
      % if s['config_file']:
      <p><span class="badge from-file" title="Edit {{s['config_file']}} in the config folder to change this stream">from {{s['config_file']}}</span></p>
      % end
      <p class="url">{{s['url']}}</p>
      <p class="muted">{{' · '.join(x for x in (s['artist'], s['album']) if x) or 'No metadata'}}</p>
      <p class="muted">{{('→ ' + s['scp_destination']) if s['scp_destination'] else 'Recordings stay on this server'}}</p>
      <div class="result" data-result hidden></div>
      <div class="buttons wrap">
        % if not s['config_file']:
        <button type="button" data-edit="stream-form">Edit</button>
        % end
        <button type="button" data-test="/api/streams/{{s['id']}}/test">Test</button>
        % if s['scp_destination']:
        <button type="button" data-test="/api/streams/{{s['id']}}/test-destination">Test destination</button>
        % end
        <label class="upload">Artwork <input type="file" accept="image/png,image/jpeg" data-upload="/api/streams/{{s['id']}}/artwork" data-max-mb="{{max_artwork_mb}}"></label>
        <form class="inline" data-api="POST /api/streams/{{s['id']}}/record" data-then="go:/" novalidate>
          <input name="duration_seconds" type="number" min="0.05" step="any" value="60" data-type="minutes" aria-label="Minutes to record"> min
          <button type="submit">Record now</button>
        </form>
        % if not s['config_file']:
        <button type="button" class="danger" data-delete="/api/streams/{{s['id']}}?cascade=true" data-confirm="Delete {{s['name']}} and its schedules? Recordings already made are kept.">Delete</button>
        % end
      </div>
    </div>
  </article>
% end
</div>
