% rebase('layout.tpl', title='Dashboard')
<section class="cards">
  <div class="card stat"><span class="label">Service</span><span class="value ok">Running</span>
    <span class="sub">up {{'%dh %02dm' % (uptime // 3600, uptime % 3600 // 60)}} · {{last_seq}} events</span></div>
  <div class="card stat"><span class="label">Streams</span><span class="value">{{counts['streams']}}</span>
    <span class="sub"><a href="/streams">manage</a></span></div>
  <div class="card stat"><span class="label">Schedules</span><span class="value">{{counts['schedules']}}</span>
    <span class="sub"><a href="/schedules">manage</a></span></div>
  <div class="card stat"><span class="label">Sessions</span><span class="value">{{counts['sessions']}}</span>
    <span class="sub"><a href="/sessions">history</a></span></div>
</section>

% if broken_files:
<section class="config-files">
  <h2>Config files not used</h2>
  <ul>
  % for f in broken_files:
    <li><a href="/streams#config-{{f['file']}}"><code>{{f['file']}}</code></a>
      <span class="error">{{problem_text(f['error'], f['line'], f['field'])}}</span></li>
  % end
  </ul>
</section>
% end

<section>
  <h2>Recording now</h2>
  <div id="live" class="live" data-poll="/api/sessions?status=recording&limit=50">
    <p class="empty">Nothing is recording.</p>
  </div>
</section>

<section>
  <h2>Next runs</h2>
  % if upcoming:
  <table class="list">
    <thead><tr><th>When</th><th>Stream</th><th>Schedule</th><th>Length</th></tr></thead>
    <tbody>
    % for s in upcoming:
      <tr><td><time datetime="{{s['next_run']}}">{{s['next_run']}}</time></td><td>{{s['stream_name']}}</td>
        <td>{{s['description']}} <span class="muted">({{s['timezone']}})</span></td><td>{{s['duration_minutes']}} min</td></tr>
    % end
    </tbody>
  </table>
  % else:
  <p class="empty">No active schedules. <a href="/schedules">Add one</a>.</p>
  % end
</section>

<section>
  <h2>Recent failures and missed runs</h2>
  % if problems:
  <table class="list">
    <thead><tr><th>Session</th><th>Stream</th><th>Window</th><th>Status</th><th>Why</th></tr></thead>
    <tbody>
    % for s in problems:
      <tr><td><a href="/sessions#session-{{s['id']}}">#{{s['id']}}</a></td><td>{{streams.get(s['stream_id'], '(deleted)')}}</td>
        <td><time datetime="{{s['window_start'].isoformat()}}">{{s['window_start'].isoformat()}}</time></td>
        <td><span class="badge {{s['status']}}">{{s['status']}}</span></td><td class="why">{{s['error'] or ''}}</td></tr>
    % end
    </tbody>
  </table>
  % else:
  <p class="empty">No failures. Everything recorded so far went fine.</p>
  % end
</section>
