% rebase('layout.tpl', title='Sessions')
<form class="filters" id="session-filters">
  <label>Stream <select name="stream_id"><option value="">All</option>
  % for s in streams:
    <option value="{{s['id']}}">{{s['name']}}</option>
  % end
  </select></label>
  <label>Status <select name="status"><option value="">All</option>
    % for status in ('recording', 'queued', 'completed', 'failed', 'missed', 'waiting_retry', 'processed'):
    <option>{{status}}</option>
    % end
  </select></label>
  <label>From <input type="date" name="from"></label>
  <label>To <input type="date" name="to"></label>
</form>
<section>
  <h2>Last 14 days</h2>
  <div id="timeline" class="timeline" aria-label="Sessions per day"></div>
</section>
<div id="sessions" class="sessions" data-poll="/api/sessions?limit=100"><p class="empty">Loading…</p></div>
